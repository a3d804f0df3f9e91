using T2VTurbo.Pipelines;
using T2VTurbo.ShapesBench;
using T2VTurbo.Tests.Support;
using T2VTurbo.Video;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>The embedded default model (models/shapesbench, docs/shapesbench.md): it loads from beside the test
/// assembly, `generate` uses it without --model at the size its config names, and its videos show what the prompt
/// asks for where a random-weight model's do not.</summary>
public class EmbeddedModelTests(ITestOutputHelper output)
{
    /// <summary>Share of (prompt, seed) videos whose every prompt object has the named colour and shape, by the pixel
    /// analyzer. Measured on the 24 seen prompts × seeds 0, 1 (docs/shapesbench.md, "The embedded default model"):
    /// the shipped model and a random-weight model of its architecture; the threshold sits between them.</summary>
    private const double Threshold = 0.0;   // set from the measurement below

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

    [Fact]
    public void On_seen_prompts_the_analyzer_finds_the_prompts_colour_and_shape_and_not_in_a_random_weight_model()
    {
        var prompts = ShapesEvaluation.ReadPrompts(Path.Combine(AppContext.BaseDirectory, "ShapesBench", "prompts-seen.txt"));
        var cfg = VideoCrafter2Config.FromFile(EmbeddedModel.ConfigPath);
        double trained, random;
        using (var pipe = ModelLoader.Load(EmbeddedModel.Files(), GenerationMode.Turbo, CPU, ScalarType.Float32))
            trained = ColourAndShapeShare(pipe, prompts);
        using (var pipe = ModelLoader.RandomWeights(cfg, CPU, ScalarType.Float32, seed: 0))
            random = ColourAndShapeShare(pipe, prompts);
        output.WriteLine($"colour and shape right: embedded model {trained:P1}, random weights {random:P1} ({prompts.Count} prompts × 2 seeds)");
        Assert.True(trained >= Threshold, $"the embedded model gets colour and shape right in {trained:P1} of the videos, below {Threshold:P0}");
        Assert.True(random < Threshold, $"a random-weight model gets colour and shape right in {random:P1}, not below {Threshold:P0}: the test would not tell");
    }

    private static double ColourAndShapeShare(TextToVideoPipeline pipe, IReadOnlyList<string> prompts)
    {
        var options = EmbeddedModel.Defaults().ApplyTo(new GenerateOptions(), framesGiven: false);
        int right = 0, total = 0;
        foreach (var prompt in prompts)
            foreach (long seed in new long[] { 0, 1 })
            {
                using var scope = NewDisposeScope();
                using var res = pipe.Generate([prompt], options with { Seed = seed });
                var score = ShapesPromptScore.Score(ShapesAnalyzer.Analyze(VideoFrames.FromTensor(res.Videos[0])), prompt);
                total++;
                if (score.Objects.All(o => o.Color != false && o.Shape != false)) right++;
            }
        return (double)right / total;
    }
}
