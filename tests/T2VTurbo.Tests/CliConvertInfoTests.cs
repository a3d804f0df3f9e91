using T2VTurbo.IO;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

public class CliConvertInfoTests
{
    [Fact]
    public void Convert_writes_bf16_safetensors_with_the_same_keys()
    {
        using var f = Fixture.Load("vae");
        var src = f.File("weights.safetensors");
        var dst = Path.Combine(Path.GetTempPath(), $"conv-{Guid.NewGuid():N}.safetensors");
        try
        {
            CliRun.Expect(0, new[] { "convert", src, dst, "--dtype", "bf16" });
            using var a = new SafeTensorsFile(src);
            using var b = new SafeTensorsFile(dst);
            Assert.Equal(a.Keys.OrderBy(k => k), b.Keys.OrderBy(k => k));
            foreach (var k in a.Keys)
            {
                Assert.Equal("BF16", b.Info(k).DType);
                using var x = a.Load(k);
                using var y = b.Load(k, ScalarType.Float32);
                Assert.True(x.allclose(y, rtol: 1e-2, atol: 1e-2), k);
            }
        }
        finally { File.Delete(dst); }
    }

    [Fact]
    public void Info_recognises_a_vae_and_missing_files_fail_clearly()
    {
        using var f = Fixture.Load("vae");
        var info = CheckpointInfo.Read(f.File("weights.safetensors"));
        Assert.Contains("autoencoder", info.Kind);
        CliRun.Expect(0, new[] { "info", f.File("weights.safetensors") });
        CliRun.Expect(1, new[] { "info", "/nonexistent/model.ckpt" });
    }
}

public class CliLoraListTests
{
    [Fact]
    public void Info_recognises_the_official_lora_list_and_convert_names_it()
    {
        using var f = Fixture.Load("lora");
        var info = CheckpointInfo.Read(f.File("unet_lora.pt"));
        Assert.Contains("T2V-Turbo LoRA", info.Kind);
        Assert.Contains($"{f.Config["lora"]!["n_modules"]!.GetValue<int>()} modules", info.Kind);

        var dir = Path.Combine(Path.GetTempPath(), $"lconv-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var cfg = Path.Combine(dir, "unet.json");
            File.WriteAllText(cfg, new System.Text.Json.Nodes.JsonObject { ["unet_config"] = f.Config["unet_config"]!.DeepClone() }.ToJsonString());
            var dst = Path.Combine(dir, "lora.safetensors");
            CliRun.Expect(0, new[] { "convert", f.File("unet_lora.pt"), dst, "--config", cfg });
            using var a = new SafeTensorsFile(f.File("unet_lora.safetensors"));
            using var b = new SafeTensorsFile(dst);
            Assert.Equal(a.Keys.OrderBy(k => k), b.Keys.OrderBy(k => k));
            foreach (var k in a.Keys)
            {
                using var x = a.Load(k);
                using var y = b.Load(k);
                Assert.True(x.eq(y).all().item<bool>(), k);
            }
        }
        finally { Directory.Delete(dir, true); }
    }
}
