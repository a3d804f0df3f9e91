using System.Text.Json.Nodes;
using T2VTurbo.Pipelines;
using Xunit;

namespace T2VTurbo.Tests;

/// <summary>Where the latent scale factor may stand in a VideoCrafter2 config: lvdm's yaml puts it in model.params,
/// beside first_stage_config; inside first_stage_config.params works too; both at once must agree.</summary>
public class ModelConfigTests
{
    private static VideoCrafter2Config Parse(string json) => VideoCrafter2Config.FromJson(JsonNode.Parse(json)!.AsObject());

    [Theory]
    [InlineData("""{ "model": { "params": { "scale_factor": 0.39 } } }""", 0.39)]
    [InlineData("""{ "model": { "params": { "first_stage_config": { "params": { "scale_factor": 0.5 } } } } }""", 0.5)]
    [InlineData("""{ "model": { "params": { "scale_factor": 0.39, "first_stage_config": { "params": { "scale_factor": 0.39 } } } } }""", 0.39)]
    [InlineData("""{ "model": { "params": {} } }""", 0.18215)]
    public void The_scale_factor_is_read_from_either_place(string json, double expected) =>
        Assert.Equal(expected, Parse(json).Vae.scale_factor);

    [Fact]
    public void Two_different_scale_factors_are_refused()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            Parse("""{ "model": { "params": { "scale_factor": 0.39, "first_stage_config": { "params": { "scale_factor": 0.18215 } } } } }"""));
        Assert.Contains("scale_factor is 0.39 in model.params but 0.18215 in first_stage_config", e.Message);
    }
}
