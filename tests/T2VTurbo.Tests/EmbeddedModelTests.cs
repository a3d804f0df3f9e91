using T2VTurbo.Pipelines;
using T2VTurbo.Tests.Support;
using Xunit;

namespace T2VTurbo.Tests;

/// <summary>The embedded default model (models/shapesbench, docs/shapesbench.md): it loads from beside the test
/// assembly and `generate` uses it without --model, at the size its config names. (Its prompt agreement is measured in
/// docs/shapesbench.md; it does not yet beat a random-weight model, so no test claims it does.)</summary>
public class EmbeddedModelTests
{
    [Fact]
    public void Generate_without_a_model_writes_the_embedded_models_video_at_its_own_size()
    {
        Assert.True(EmbeddedModel.IsPresent, $"the embedded model is not at {EmbeddedModel.Folder}");
        var dir = Path.Combine(Path.GetTempPath(), $"embedded-{Guid.NewGuid():N}");
        try
        {
            var gif = Path.Combine(dir, "circle.gif");
            CliRun.Expect(0, "generate", "a red circle moving to the left", "--seed", "1", "--output", gif);
            var p = ProbeResult.Of(gif);
            Assert.Equal((8, 32, 32), (p.Frames, p.Width, p.Height));
            Assert.InRange(p.Fps, 7.6, 8.4);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
