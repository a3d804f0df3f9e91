using T2VTurbo.Models;
using T2VTurbo.Models.Unet;
using T2VTurbo.Pipelines;
using T2VTurbo.ShapesBench;
using T2VTurbo.Tests.Support;
using T2VTurbo.Text;
using T2VTurbo.Video;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>The embedded default model (models/shapesbench, docs/shapesbench.md): it loads from beside the test
/// assembly, `generate` uses it without --model, and its 4-step videos show what seen prompts ask for.</summary>
public class EmbeddedModelTests(ITestOutputHelper output)
{
    /// <summary>Half of configs/shapesbench/prompts-seen.txt (every colour twice, every shape three times).</summary>
    private static readonly string[] SeenPrompts =
    {
        "a red circle moving down", "a red cross moving to the left", "a green circle growing", "a green triangle moving to the right",
        "a blue square shrinking", "a blue cross moving up", "a yellow circle moving to the right", "a yellow triangle shrinking",
        "a magenta square growing", "a magenta cross moving down", "a cyan square moving to the left", "a cyan triangle moving up",
    };
    private static readonly long[] Seeds = { 0, 1 };

    /// <summary>Share of (prompt, seed) videos whose analyzed object has the prompt's colour and shape. Measured: see
    /// docs/shapesbench.md (embedded model vs a random-weight model of the same architecture); the bar sits between them
    /// with a margin on both sides.</summary>
    private const double Threshold = 0.5;

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
    public void The_embedded_model_shows_the_colour_and_shape_of_seen_prompts_and_random_weights_do_not()
    {
        using var trained = ModelLoader.Load(EmbeddedModel.Files(), GenerationMode.Turbo, CPU, ScalarType.Float32);
        double trainedRate = ColourAndShapeAgreement(trained);
        using var random = RandomWeights(VideoCrafter2Config.FromFile(EmbeddedModel.ConfigPath));
        double randomRate = ColourAndShapeAgreement(random);
        output.WriteLine($"colour+shape agreement: embedded {trainedRate:P1}, random weights {randomRate:P1} (threshold {Threshold:P0})");
        Assert.True(trainedRate >= Threshold, $"embedded model: colour and shape agree on {trainedRate:P1} of seen prompts, below {Threshold:P0}");
        Assert.True(randomRate < Threshold, $"a random-weight model reaches {randomRate:P1}: the threshold {Threshold:P0} does not separate them");
    }

    private static double ColourAndShapeAgreement(TextToVideoPipeline pipe)
    {
        var d = EmbeddedModel.Defaults();
        int agree = 0, total = 0;
        foreach (var prompt in SeenPrompts)
            foreach (var seed in Seeds)
            {
                var options = d.ApplyTo(new GenerateOptions { Seed = seed }, framesGiven: false);
                using var r = pipe.Generate(new[] { prompt }, options);
                using var video = r.Videos[0];
                var a = ShapesEvaluation.Judge(prompt, seed, VideoFrames.FromTensor(video)).Agreement;
                total++;
                if (a.ColorAgree == a.ColorNamed && a.ShapeAgree == a.ShapeNamed) agree++;
            }
        return (double)agree / total;
    }

    /// <summary>The same architecture with freshly initialised weights (fixed seed).</summary>
    private static TextToVideoPipeline RandomWeights(VideoCrafter2Config cfg)
    {
        torch.manual_seed(3);
        return new TextToVideoPipeline(ClipTokenizer.Default, new OpenClipTextEncoder(cfg.Text),
            new Unet3D(cfg.Unet with { time_cond_proj_dim = cfg.Unet.time_cond_proj_dim ?? 256 }, CPU), new KlAutoencoder(cfg.Vae), cfg.Schedule);
    }
}
