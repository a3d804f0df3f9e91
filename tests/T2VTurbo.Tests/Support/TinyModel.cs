using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Support;

/// <summary>A tiny VideoCrafter2-layout model for end-to-end tests: the UNet of fixture unet_vc2_turbo (time_cond_proj
/// and motion inputs), the VAE of fixture vae, and a seeded random text tower whose width matches the UNet's context
/// (the openclip_text fixture is 16 wide, the UNet fixtures expect 64). Written once per test run as one safetensors
/// file with the three checkpoint prefixes, plus the architecture JSON in the reference yaml's layout.</summary>
public static class TinyModel
{
    private static readonly Lazy<(string Weights, string Config)> Files = new(Create);
    public static string WeightsPath => Files.Value.Weights;
    public static string ConfigPath => Files.Value.Config;

    /// <summary>The size step this model needs: the VAE's down factor × 2 per UNet downsampling (from the fixture configs,
    /// so other fixture sets work too).</summary>
    public static int Unit => Lazy.Value;
    private static readonly Lazy<int> Lazy = new(() =>
    {
        var cfg = T2VTurbo.Pipelines.VideoCrafter2Config.FromFile(ConfigPath);
        return cfg.Vae.DownFactor * (1 << (cfg.Unet.channel_mult.Length - 1));
    });
    /// <summary>A valid size of about <paramref name="pixels"/> (at least one step).</summary>
    public static int Size(int pixels = 32) => Unit * Math.Max(1, (pixels + Unit - 1) / Unit);

    private static (string, string) Create()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"t2v-tiny-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir, true); } catch (IOException) { } };
        using var unetF = Fixture.Load("unet_vc2_turbo");
        using var vaeF = Fixture.Load("vae");
        var unetCfg = unetF.Config.DeepClone().AsObject();
        long contextDim = unetCfg["context_dim"]!.GetValue<long>();
        var textCfg = new JsonObject { ["width"] = (int)contextDim, ["heads"] = 4, ["layers"] = 2, ["embed_dim"] = (int)contextDim };

        var tensors = new Dictionary<string, Tensor>();
        foreach (var k in unetF.Weights.Keys) tensors["model.diffusion_model." + k[unetF.Prefix.Length..]] = unetF.Weights.Load(k);
        foreach (var k in vaeF.Weights.Keys) tensors[k] = vaeF.Weights.Load(k);
        torch.manual_seed(1234);
        using (var text = new OpenClipTextEncoder(OpenClipTextConfig.FromJson(textCfg)))
            foreach (var (k, v) in text.state_dict()) tensors["cond_stage_model." + k] = v.detach().clone();

        var weights = Path.Combine(dir, "tiny.safetensors");
        SafeTensors.Save(weights, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        foreach (var t in tensors.Values) t.Dispose();

        var config = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["params"] = new JsonObject
                {
                    ["linear_start"] = 0.00085, ["linear_end"] = 0.012, ["timesteps"] = 1000,
                    ["unet_config"] = new JsonObject { ["params"] = unetCfg },
                    ["first_stage_config"] = new JsonObject { ["params"] = vaeF.Config.DeepClone() },
                    ["cond_stage_config"] = new JsonObject { ["params"] = textCfg },
                },
            },
        };
        var configPath = Path.Combine(dir, "tiny.json");
        File.WriteAllText(configPath, config.ToJsonString());
        return (weights, configPath);
    }
}
