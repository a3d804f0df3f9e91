using T2VTurbo.IO;
using T2VTurbo.Pipelines;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>The text-to-video pipeline end to end on <see cref="TinyModel"/> (CPU, float32, about 32×32, 3 frames).</summary>
public class PipelineTests
{
    private static readonly int S = TinyModel.Size(), W = TinyModel.Size() + TinyModel.Unit;   // non-square where it matters
    private static readonly GenerateOptions Small = new() { Frames = 3, Height = S, Width = S, Steps = 2, Seed = 7, DecodeFrameChunk = 2 };

    private static TextToVideoPipeline Load(GenerationMode mode = GenerationMode.Turbo) =>
        ModelLoader.Load(new ModelFiles(TinyModel.WeightsPath, Config: TinyModel.ConfigPath), mode, torch.CPU, ScalarType.Float32);

    [Theory]
    [InlineData(GenerationMode.Turbo, 3, 3)]
    [InlineData(GenerationMode.TurboV2, 2, 2)]
    [InlineData(GenerationMode.Teacher, 2, 4)]
    public void Unet_is_called_once_per_turbo_step_and_twice_per_teacher_step(GenerationMode mode, int steps, int calls)
    {
        using var pipe = Load(mode);
        var seen = new List<long>();
        using var r = pipe.Generate(new[] { "a red circle moving to the left" },
            Small with { Mode = mode, Steps = steps, OnStep = (i, t, den) => seen.Add(t) });
        Assert.Equal(calls, r.Timings.UnetCallCount);
        Assert.Equal(steps, seen.Count);
        Assert.Equal(new long[] { 1, 3, 3, S, S }, r.Videos.shape);
        Assert.True(r.Videos.isfinite().all().item<bool>());
    }

    [Fact]
    public void A_seed_reproduces_the_video_bit_for_bit_and_another_seed_changes_it()
    {
        using var pipe = Load();
        using var a = pipe.Generate(new[] { "a blue square" }, Small);
        using var b = pipe.Generate(new[] { "a blue square" }, Small);
        using var c = pipe.Generate(new[] { "a blue square" }, Small with { Seed = 8 });
        Assert.True(a.Videos.eq(b.Videos).all().item<bool>());
        Assert.False(a.Videos.eq(c.Videos).all().item<bool>());
        Assert.Equal(7, a.Seed);
    }

    [Fact]
    public void Videos_per_prompt_are_prompt_major()
    {
        using var pipe = Load();
        using var r = pipe.Generate(new[] { "one", "two" }, Small with { VideosPerPrompt = 2, Steps = 1 });
        Assert.Equal(new[] { "one", "one", "two", "two" }, r.Prompts);
        Assert.Equal(4, r.Videos.shape[0]);
    }

    [Theory]
    [InlineData("mp4")]
    [InlineData("gif")]
    [InlineData("webp")]
    public void Cli_generate_writes_a_video_of_the_asked_size_frames_and_fps(string ext)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"gen-{Guid.NewGuid():N}");
        var output = Path.Combine(dir, $"corgi.{ext}");
        try
        {
            CliRun.Expect(0, new[]
            {
                "generate", "a corgi surfing a wave", "--model", TinyModel.WeightsPath, "--config", TinyModel.ConfigPath,
                "--frames", "3", "--height", S.ToString(), "--width", W.ToString(), "--steps", "2", "--fps", "8", "--seed", "3", "--output", output,
            });
            Assert.True(File.Exists(output), output);
            if (ext == "webp")
            {
                var w = WebpProbe.Of(output);
                Assert.Equal((3, W, S), (w.Frames, w.Width, w.Height));
                Assert.InRange(w.Fps, 7.9, 8.1);
                return;
            }
            var p = ProbeResult.Of(output);
            Assert.Equal((3, W, S), (p.Frames, p.Width, p.Height));
            Assert.InRange(p.Fps, 7.6, 8.4);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("--height", "36", "multiples of 8")]
    [InlineData("--frames", "0", "frames must be at least 1")]
    [InlineData("--steps", "51", "steps must be in 1..50")]
    [InlineData("--device", "cuda", "CUDA is not available")]
    [InlineData("--mode", "fast", "unknown --mode")]
    [InlineData("--prompts", "/nonexistent/prompts.txt", "prompts file not found")]
    public void Cli_rejects_bad_options_with_a_clear_error(string option, string value, string expected)
    {
        var err = RunCliCapturingErrors("generate", "a cat", "--model", TinyModel.WeightsPath, "--config", TinyModel.ConfigPath, option, value);
        Assert.Contains(expected, err);
    }

    [Fact]
    public void Missing_and_wrong_kind_model_files_are_clear_errors()
    {
        var missing = RunCliCapturingErrors("generate", "a cat", "--model", "/nonexistent/model.ckpt");
        Assert.Contains("not found", missing);
        using var vae = Fixture.Load("vae");
        var wrongKind = RunCliCapturingErrors("generate", "a cat", "--model", vae.File("weights.safetensors"));
        Assert.Contains("no text encoder weights", wrongKind);
        using var lora = Fixture.Load("lora");
        var list = RunCliCapturingErrors("generate", "a cat", "--model", lora.File("unet_lora.pt"));
        Assert.Contains("pickled list", list);
    }

    [Fact]
    public void Non_finite_latents_are_reported()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"nan-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "nan.safetensors");
        try
        {
            using (var src = new SafeTensorsFile(TinyModel.WeightsPath))
            {
                var all = src.Keys.ToDictionary(k => k, k => src.Load(k));
                all["model.diffusion_model.out.2.bias"].fill_(float.NaN);
                SafeTensors.Save(path, all);
            }
            using var pipe = ModelLoader.Load(new ModelFiles(path, Config: TinyModel.ConfigPath), GenerationMode.Turbo, torch.CPU, ScalarType.Float32);
            var e = Assert.Throws<InvalidOperationException>(() => pipe.Generate(new[] { "x" }, Small));
            Assert.Contains("NaN", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static string RunCliCapturingErrors(params string[] args)
    {
        var (rc, errors) = CliRun.Capturing(args);
        Assert.NotEqual(0, rc);
        return errors;
    }
}
