using T2VTurbo.IO;
using T2VTurbo.Lora;
using T2VTurbo.Models.Unet;
using T2VTurbo.Pipelines;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>`convert MODEL OUT --lora LORA`: the merged one-file checkpoint generates what MODEL + LORA generates.</summary>
public class MergedCheckpointTests
{
    private static readonly int S = TinyModel.Size();
    private static readonly GenerateOptions Small = new() { Frames = 3, Height = S, Width = S, Steps = 2, Seed = 5, DecodeFrameChunk = 2 };

    [Fact]
    public void A_merged_checkpoint_generates_what_the_model_with_its_lora_generates()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"merge-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string lora = Path.Combine(dir, "lora.safetensors"), merged = Path.Combine(dir, "merged.safetensors");
            WriteRandomLora(lora);
            CliRun.Expect(0, "convert", TinyModel.WeightsPath, merged, "--lora", lora, "--config", TinyModel.ConfigPath);

            using var withLora = ModelLoader.Load(new ModelFiles(TinyModel.WeightsPath, lora, Config: TinyModel.ConfigPath), GenerationMode.Turbo, CPU, ScalarType.Float32);
            using var fromMerged = ModelLoader.Load(new ModelFiles(merged, Config: TinyModel.ConfigPath), GenerationMode.Turbo, CPU, ScalarType.Float32);
            using var plain = ModelLoader.Load(new ModelFiles(TinyModel.WeightsPath, Config: TinyModel.ConfigPath), GenerationMode.Turbo, CPU, ScalarType.Float32);
            using var a = withLora.Generate(new[] { "a red circle" }, Small);
            using var b = fromMerged.Generate(new[] { "a red circle" }, Small);
            using var c = plain.Generate(new[] { "a red circle" }, Small);
            double err = (a.Videos - b.Videos).abs().max().item<float>();
            double loraEffect = (a.Videos - c.Videos).abs().max().item<float>();
            Assert.True(err < 1e-5, $"merged vs model + LoRA: max error {err:E2}");
            Assert.True(loraEffect > 1e-3, $"the LoRA changes the video by only {loraEffect:E2}: the test would not see a missing merge");

            using var file = new SafeTensorsFile(merged);
            Assert.Contains("model.diffusion_model.time_cond_proj.weight", file.Keys);
            Assert.Equal("t2v-turbo-merged", file.Metadata["kind"]);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Merging_refuses_a_missing_lora_by_name()
    {
        var (rc, errors) = CliRun.Capturing("convert", TinyModel.WeightsPath, Path.Combine(Path.GetTempPath(), "never.safetensors"),
            "--lora", "/nonexistent/unet_lora.pt", "--config", TinyModel.ConfigPath);
        Assert.Equal(1, rc);
        Assert.Contains("LoRA not found: /nonexistent/unet_lora.pt", errors);
    }

    /// <summary>A rank-2 LoRA on every target of the tiny UNet, large enough to change the video.</summary>
    private static void WriteRandomLora(string path)
    {
        var cfg = VideoCrafter2Config.FromFile(TinyModel.ConfigPath);
        using var unet = new Unet3D(cfg.Unet with { time_cond_proj_dim = cfg.Unet.time_cond_proj_dim ?? 256 }, META);
        var gen = new Generator(11, CPU);
        var pairs = new Dictionary<string, LoraWeights.Pair>();
        foreach (var t in LoraTargets.Find(unet))
        {
            long r = t.RankFor(2);
            pairs[t.Name] = new LoraWeights.Pair(torch.randn(t.UpShape(r), generator: gen) * 0.2, torch.randn(t.DownShape(r), generator: gen) * 0.2);
        }
        using var weights = new LoraWeights(pairs);
        SafeTensors.Save(path, weights.ToNamed());
    }
}
