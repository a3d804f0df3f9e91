using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Support;

/// <summary>A tiny ModelScope model as a diffusers folder, for end-to-end tests: the teacher UNet of fixture
/// unet_ms_turbo (its student keys minus time_embedding.cond_proj), the VAE of fixture vae_ms, the tokenizer files of
/// text_ms/clip_tokenizer, and a seeded random HF CLIP text encoder whose width matches the UNet's cross-attention
/// (the text_ms fixture is 16 wide, the UNet fixture expects 32). Written once per test run.</summary>
public static class TinyMsModel
{
    private static readonly Lazy<string> Root = new(Create);
    public static string Folder => Root.Value;

    /// <summary>A size the MS VAE can encode (a multiple of its down factor) of about <paramref name="pixels"/>; the MS
    /// UNet itself takes any latent size.</summary>
    public static int Size(int pixels = 32)
    {
        int unit = 1 << (T2VTurbo.IO.DiffusersFolder.Open(Folder).ReadConfig("vae")["block_out_channels"]!.AsArray().Count - 1);
        return unit * Math.Max(1, (pixels + unit - 1) / unit);
    }

    private static void WriteJson(string path, JsonNode json)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, json.ToJsonString());
    }

    private static JsonObject Only(JsonObject all, IEnumerable<string> keys) =>
        new(keys.Where(all.ContainsKey).Select(k => KeyValuePair.Create(k, all[k]?.DeepClone())));

    private static string Create()
    {
        var root = Path.Combine(Path.GetTempPath(), $"t2v-tiny-ms-{Environment.ProcessId}");
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(root, true); } catch (IOException) { } };
        using var unetF = Fixture.Load("unet_ms_turbo");
        using var vaeF = Fixture.Load("vae_ms");
        using var textF = Fixture.Load("text_ms");
        using var tok = Fixture.Load("clip_tokenizer");

        WriteJson(Path.Combine(root, DiffusersFolder.ModelIndexFile), new JsonObject
        {
            ["_class_name"] = "TextToVideoSDPipeline",
            ["scheduler"] = new JsonArray("diffusers", "DDIMScheduler"),
            ["text_encoder"] = new JsonArray("transformers", "CLIPTextModel"),
            ["tokenizer"] = new JsonArray("transformers", "CLIPTokenizer"),
            ["unet"] = new JsonArray("diffusers", "UNet3DConditionModel"),
            ["vae"] = new JsonArray("diffusers", "AutoencoderKL"),
        });

        // UNet: the teacher, as the released MS folder holds it.
        var unetCfg = Only(unetF.Config, unetF.Config["real_unet_config"]!.AsObject().Select(kv => kv.Key));
        WriteJson(Path.Combine(root, "unet", "config.json"), unetCfg);
        var unet = unetF.Weights.Keys.Where(k => !k.EndsWith("time_embedding.cond_proj.weight", StringComparison.Ordinal))
            .ToDictionary(k => k[unetF.Prefix.Length..], k => unetF.Weights.Load(k));
        SafeTensors.Save(Path.Combine(root, "unet", "diffusion_pytorch_model.safetensors"), unet);

        WriteJson(Path.Combine(root, "vae", "config.json"), Only(vaeF.Config, vaeF.Config["real_vae_config"]!.AsObject().Select(kv => kv.Key)));
        var vae = vaeF.Weights.Keys.ToDictionary(k => k[vaeF.Prefix.Length..], k => vaeF.Weights.Load(k));
        SafeTensors.Save(Path.Combine(root, "vae", "diffusion_pytorch_model.safetensors"), vae);

        var textCfg = textF.Config["text_encoder_config"]!.DeepClone().AsObject();
        textCfg["hidden_size"] = unetCfg["cross_attention_dim"]!.GetValue<int>();
        textCfg["num_hidden_layers"] = 2;
        WriteJson(Path.Combine(root, "text_encoder", "config.json"), textCfg);
        torch.manual_seed(4321);
        using (var text = new HfClipTextModel(HfClipTextConfig.FromJson(textCfg)))
        {
            var sd = text.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            SafeTensors.Save(Path.Combine(root, "text_encoder", "model.safetensors"), sd);
        }

        Directory.CreateDirectory(Path.Combine(root, "tokenizer"));
        File.Copy(tok.File("vocab.json"), Path.Combine(root, "tokenizer", "vocab.json"));
        File.Copy(tok.File("merges.txt"), Path.Combine(root, "tokenizer", "merges.txt"));
        WriteJson(Path.Combine(root, "tokenizer", "tokenizer_config.json"), textF.Config["tokenizer_config_json"]!.DeepClone());
        WriteJson(Path.Combine(root, "tokenizer", "special_tokens_map.json"), textF.Config["special_tokens_map_json"]!.DeepClone());
        return root;
    }
}
