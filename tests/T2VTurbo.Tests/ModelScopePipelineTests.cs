using T2VTurbo.IO;
using T2VTurbo.Pipelines;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>The ModelScope family end to end on <see cref="TinyMsModel"/> (a diffusers folder built from fixtures).</summary>
public class ModelScopePipelineTests
{
    private static readonly int S = TinyMsModel.Size(), W = TinyMsModel.Size(40);
    private static readonly GenerateOptions Small = new() { Frames = 3, Height = S, Width = S, Steps = 2, Seed = 5 };

    [Theory]
    [InlineData(GenerationMode.Turbo, 2)]
    [InlineData(GenerationMode.Teacher, 4)]
    public void Folder_is_recognised_and_generates(GenerationMode mode, int unetCalls)
    {
        Assert.Equal(ModelFamily.ModelScope, ModelLoader.DetectFamily(TinyMsModel.Folder));
        var warnings = new List<string>();
        using var pipe = ModelLoader.Load(new ModelFiles(TinyMsModel.Folder), mode, torch.CPU, ScalarType.Float32, warnings.Add);
        Assert.Equal(ModelFamily.ModelScope, pipe.Family);
        Assert.Equal(mode == GenerationMode.Turbo, warnings.Any(w => w.Contains("cond_proj")));
        using var r = pipe.Generate(new[] { "a red circle moving to the left!" }, Small with { Mode = mode });
        Assert.Equal(unetCalls, r.Timings.UnetCallCount);
        Assert.Equal(new long[] { 1, 3, 3, S, S }, r.Videos.shape);
        Assert.Equal(8, r.Fps);                                 // the MS demo writes 8 fps
        Assert.True(r.Videos.isfinite().all().item<bool>());
    }

    [Fact]
    public void Converted_single_file_generates_the_same_video_as_the_folder()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ms1-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var file = Path.Combine(dir, "ms.safetensors");
            CliRun.Expect(0, new[] { "convert", TinyMsModel.Folder, file });
            Assert.Contains("ModelScope", CheckpointInfo.Read(file).Kind);
            Assert.Contains("ModelScope diffusers folder", CheckpointInfo.Read(TinyMsModel.Folder).Kind);
            using var a = ModelLoader.Load(new ModelFiles(TinyMsModel.Folder), GenerationMode.Turbo, torch.CPU, ScalarType.Float32);
            using var b = ModelLoader.Load(new ModelFiles(file), GenerationMode.Turbo, torch.CPU, ScalarType.Float32);
            using var va = a.Generate(new[] { "a blue square" }, Small);
            using var vb = b.Generate(new[] { "a blue square" }, Small);
            Assert.True(va.Videos.eq(vb.Videos).all().item<bool>());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Cli_generates_an_mp4_from_a_diffusers_folder()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"msgen-{Guid.NewGuid():N}");
        var output = Path.Combine(dir, "ms.mp4");
        try
        {
            CliRun.Expect(0, new[]
            {
                "generate", "a corgi surfing a wave", "--model", TinyMsModel.Folder, "--frames", "3", "--height", S.ToString(), "--width", W.ToString(),
                "--steps", "2", "--seed", "1", "--output", output,
            });
            var p = ProbeResult.Of(output);
            Assert.Equal((3, W, S), (p.Frames, p.Width, p.Height));
            Assert.Equal(8.0, p.Fps, 3);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Turbo_v2_is_refused_for_modelscope()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            ModelLoader.Load(new ModelFiles(TinyMsModel.Folder), GenerationMode.TurboV2, torch.CPU, ScalarType.Float32));
        Assert.Contains("only for VideoCrafter2", e.Message);
    }
}
