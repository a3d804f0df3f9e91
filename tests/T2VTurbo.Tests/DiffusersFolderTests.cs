using System.Collections;
using System.Reflection;
using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Models;
using T2VTurbo.Models.ModelScope;
using T2VTurbo.Tests.Support;
using T2VTurbo.Text;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>A small ModelScope-layout diffusers folder, built in a temp dir from the vae_ms / text_ms fixtures (VAE as
/// safetensors under the legacy attention names, text encoder as a PyTorch-zip pytorch_model.bin with the position_ids
/// buffer, the MS tokenizer files), read back with <see cref="DiffusersFolder"/>.</summary>
public sealed class DiffusersFolderTests : IDisposable
{
    private const double Tol = 1e-4;
    private readonly string root = Directory.CreateTempSubdirectory("t2v-diffusers-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    private string PathOf(string relative) => System.IO.Path.Combine(root, relative);

    private void WriteJson(string relative, JsonNode json)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(PathOf(relative))!);
        File.WriteAllText(PathOf(relative), json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    }

    private static JsonObject ModelIndex() => new()
    {
        ["_class_name"] = "TextToVideoSDPipeline",
        ["_diffusers_version"] = "0.15.0.dev0",
        ["scheduler"] = new JsonArray("diffusers", "DDIMScheduler"),
        ["text_encoder"] = new JsonArray("transformers", "CLIPTextModel"),
        ["tokenizer"] = new JsonArray("transformers", "CLIPTokenizer"),
        ["unet"] = new JsonArray("diffusers", "UNet3DConditionModel"),
        ["vae"] = new JsonArray("diffusers", "AutoencoderKL"),
        ["safety_checker"] = new JsonArray(null, null),
    };

    /// <summary>vae/config.json holds only diffusers' own names (those of the real config), not the fixture's extras.</summary>
    private void WriteVaeConfig(Fixture vae)
    {
        var real = vae.Config["real_vae_config"]!.AsObject();
        var config = new JsonObject(vae.Config.Where(kv => real.ContainsKey(kv.Key)).Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone())));
        WriteJson("vae/config.json", config);
    }

    private void WriteVae(Fixture vae, string weightsName, ScalarType? dtype = null)
    {
        WriteVaeConfig(vae);
        using var scope = torch.NewDisposeScope();
        var weights = MsVaeTests.LegacyNamed(vae.Weights);
        if (weightsName.EndsWith(".bin", StringComparison.Ordinal)) PyBridgeSave(PathOf("vae/" + weightsName), weights);
        else SafeTensors.Save(PathOf("vae/" + weightsName), weights, dtype: dtype);
    }

    private void WriteTextEncoderAndTokenizer(Fixture text)
    {
        WriteJson("text_encoder/config.json", text.Config["text_encoder_config"]!.DeepClone());
        using (var scope = torch.NewDisposeScope())
        {
            var weights = text.Weights.Keys.ToDictionary(k => k, k => text.Weights.Load(k));
            long positions = text.Config["text_encoder_config"]!["max_position_embeddings"]!.GetValue<long>();
            weights["text_model.embeddings.position_ids"] = torch.arange(positions, dtype: ScalarType.Int64).unsqueeze(0);   // as transformers 4.27 saved it
            PyBridgeSave(PathOf("text_encoder/pytorch_model.bin"), weights);
        }
        Directory.CreateDirectory(PathOf("tokenizer"));
        foreach (var name in new[] { "vocab.json", "merges.txt" })
        {
            var src = System.IO.Path.Combine(Fixture.Root, "clip_tokenizer", name);
            Assert.True(File.Exists(src), $"fixture file is missing: {src}");
            File.Copy(src, PathOf("tokenizer/" + name));
        }
        WriteJson("tokenizer/tokenizer_config.json", text.Config["tokenizer_config_json"]!.DeepClone());
        WriteJson("tokenizer/special_tokens_map.json", text.Config["special_tokens_map_json"]!.DeepClone());
    }

    /// <summary>TorchSharp.PyBridge's torch.save-compatible pickler (as in TorchCheckpointTests): a PyTorch zip .bin.</summary>
    private static void PyBridgeSave(string path, IReadOnlyDictionary<string, Tensor> tensors)
    {
        var dict = new Hashtable();
        foreach (var (k, t) in tensors) dict[k] = t;
        var pickler = typeof(PyBridgeModuleExtensions).Assembly.GetType("TorchSharp.PyBridge.PyTorchPickler", throwOnError: true)!;
        var method = pickler.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            .Single(m => m.Name == "PickleStateDict" && m.GetParameters() is { Length: 3 } ps
                         && ps[0].ParameterType == typeof(Stream) && ps[1].ParameterType.IsAssignableFrom(typeof(Hashtable)));
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        using var fs = File.Create(path);
        method.Invoke(null, [fs, dict, false]);
    }

    private static void AssertDecodes(Fixture f, KlAutoencoder vae, string label, double tol = Tol)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        Fixture.AssertClose(vae.Decode(f.In("latent")), f.In("decoded"), $"vae_ms/decoded ({label})", tol);
    }

    [Fact]
    public void Model_index_lists_the_components()
    {
        WriteJson(DiffusersFolder.ModelIndexFile, ModelIndex());
        var folder = DiffusersFolder.Open(root);
        Assert.Equal("TextToVideoSDPipeline", folder.PipelineClass);
        Assert.Equal(new[] { "scheduler", "text_encoder", "tokenizer", "unet", "vae" }, folder.Components.Keys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.Equal(("diffusers", "AutoencoderKL"), folder.Components["vae"]);
        Assert.Equal("CLIPTextModel", folder.ClassOf("text_encoder"));
        Assert.Null(folder.ClassOf("safety_checker"));
        Assert.False(folder.HasComponent("vae"));
    }

    [Fact]
    public void Vae_safetensors_with_legacy_names_loads_and_decodes()
    {
        using var f = Fixture.Load("vae_ms");
        WriteJson(DiffusersFolder.ModelIndexFile, ModelIndex());
        WriteVae(f, "diffusion_pytorch_model.safetensors");
        var folder = DiffusersFolder.Open(root);
        Assert.Equal(PathOf("vae/diffusion_pytorch_model.safetensors"), folder.WeightsPath("vae"));
        using var weights = folder.OpenWeights("vae");
        Assert.Contains(weights.Keys, k => k.Contains(".query.", StringComparison.Ordinal));
        using var vae = DiffusersVae.Load(folder.ReadConfig("vae"), weights);
        Assert.Equal(f.Config["scaling_factor"]!.GetValue<double>(), vae.ScaleFactor);
        AssertDecodes(f, vae, "folder, safetensors");
    }

    [Fact]
    public void Vae_bin_loads_and_safetensors_is_preferred_over_it()
    {
        using var f = Fixture.Load("vae_ms");
        WriteJson(DiffusersFolder.ModelIndexFile, ModelIndex());
        WriteVae(f, "diffusion_pytorch_model.bin");
        var folder = DiffusersFolder.Open(root);
        Assert.Equal(PathOf("vae/diffusion_pytorch_model.bin"), folder.WeightsPath("vae"));
        using (var vae = DiffusersVae.FromFolder(folder))
            AssertDecodes(f, vae, "folder, .bin");
        WriteVae(f, "diffusion_pytorch_model.safetensors");
        Assert.Equal(PathOf("vae/diffusion_pytorch_model.safetensors"), folder.WeightsPath("vae"));
    }

    /// <summary>fp16 variant files: chosen by variant "fp16", or when no plain file exists; loaded into float32 modules
    /// they hold the fp16-rounded fixture weights exactly.</summary>
    [Fact]
    public void Fp16_variant_is_found_and_upcast()
    {
        using var f = Fixture.Load("vae_ms");
        WriteJson(DiffusersFolder.ModelIndexFile, ModelIndex());
        WriteVae(f, "diffusion_pytorch_model.fp16.safetensors", ScalarType.Float16);
        var folder = DiffusersFolder.Open(root);
        var fp16 = PathOf("vae/diffusion_pytorch_model.fp16.safetensors");
        Assert.Equal(fp16, folder.WeightsPath("vae"));                 // only the variant exists
        Assert.Equal(fp16, folder.WeightsPath("vae", "fp16"));
        using (var weights = folder.OpenWeights("vae", "fp16"))
        using (var vae = DiffusersVae.Load(folder.ReadConfig("vae"), weights))
        using (var scope = torch.NewDisposeScope())
        {
            Assert.Equal(ScalarType.Float16, weights.DType(weights.Keys.First()));
            using var reference = DiffusersVae.Load(f.Config, f.Weights);
            var loaded = vae.state_dict();
            foreach (var (k, t) in reference.state_dict())
            {
                Assert.Equal(ScalarType.Float32, loaded[k].dtype);
                Assert.True(loaded[k].equal(t.to(ScalarType.Float16).to(ScalarType.Float32)).all().item<bool>(), $"{k}: not the fp16-rounded weight");
            }
            AssertDecodes(f, vae, "folder, fp16 variant (weights rounded to fp16)", 0.05);
        }
        WriteVae(f, "diffusion_pytorch_model.safetensors");
        Assert.Equal(PathOf("vae/diffusion_pytorch_model.safetensors"), folder.WeightsPath("vae"));
        Assert.Equal(fp16, folder.WeightsPath("vae", "fp16"));
    }

    [Fact]
    public void Sharded_weights_are_read_through_their_index()
    {
        using var f = Fixture.Load("vae_ms");
        WriteJson(DiffusersFolder.ModelIndexFile, ModelIndex());
        WriteVaeConfig(f);
        using (var scope = torch.NewDisposeScope())
        {
            var all = MsVaeTests.LegacyNamed(f.Weights);
            var keys = all.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
            var map = new JsonObject();
            for (int s = 0; s < 2; s++)
            {
                var name = $"diffusion_pytorch_model-0000{s + 1}-of-00002.safetensors";
                var part = keys.Where((_, i) => i % 2 == s).ToDictionary(k => k, k => all[k]);
                SafeTensors.Save(PathOf("vae/" + name), part);
                foreach (var k in part.Keys) map[k] = name;
            }
            WriteJson("vae/diffusion_pytorch_model.safetensors.index.json", new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map });
        }
        var folder = DiffusersFolder.Open(root);
        Assert.EndsWith(".safetensors.index.json", folder.WeightsPath("vae"));
        using (var weights = folder.OpenWeights("vae"))
        using (var vae = DiffusersVae.Load(folder.ReadConfig("vae"), weights))
            AssertDecodes(f, vae, "folder, 2 shards");

        File.Delete(PathOf("vae/diffusion_pytorch_model-00002-of-00002.safetensors"));
        var ex = Assert.Throws<FileNotFoundException>(() => folder.OpenWeights("vae"));
        Assert.Contains("diffusion_pytorch_model-00002-of-00002.safetensors", ex.Message);
    }

    /// <summary>tokenizer/ + text_encoder/ (pytorch_model.bin with position_ids): prompt text → ids → embeddings.</summary>
    [Fact]
    public void Text_encoder_bin_and_tokenizer_give_the_reference_embeddings()
    {
        using var f = Fixture.Load("text_ms");
        WriteJson(DiffusersFolder.ModelIndexFile, ModelIndex());
        WriteTextEncoderAndTokenizer(f);
        var folder = DiffusersFolder.Open(root);
        Assert.Equal(PathOf("text_encoder/pytorch_model.bin"), folder.WeightsPath("text_encoder"));
        var files = folder.TokenizerFiles();
        Assert.Equal("!", files.PadToken);   // special_tokens_map.json overrides tokenizer_config.json's <|endoftext|>
        Assert.Equal(f.Config["tokenizer_effective"]!["model_max_length"]!.GetValue<int>(), files.ModelMaxLength);
        var tokenizer = ClipTokenizer.FromFiles(files.VocabJson, files.MergesTxt,
            ClipTokenizerOptions.HuggingFace with { ContextLength = files.ModelMaxLength ?? 77 });
        Assert.Equal(f.Config["tokenizer_effective"]!["pad_token_id"]!.GetValue<long>(), tokenizer.PadId);

        using (var weights = folder.OpenWeights("text_encoder"))
            Assert.True(weights.Contains("text_model.embeddings.position_ids"));
        using var model = HfClipTextModel.FromFolder(folder);
        var cases = JsonNode.Parse(File.ReadAllText(f.File("tokenizer_cases.json")))!["cases"]!.AsArray();
        var prompts = f.IntList("batch_case_indices").Select(i => cases[(int)i]!["text"]!.GetValue<string>()).ToList();
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        Fixture.AssertClose(model.forward(tokenizer.Tokenize(prompts)), f.In("output"), "text_ms/output (folder: tokenizer + pytorch_model.bin)", Tol);
    }

    [Fact]
    public void Missing_files_are_named()
    {
        var ex = Assert.Throws<FileNotFoundException>(() => DiffusersFolder.Open(root));
        Assert.Contains("model_index.json", ex.Message);
        Assert.Throws<DirectoryNotFoundException>(() => DiffusersFolder.Open(PathOf("nope")));

        WriteJson(DiffusersFolder.ModelIndexFile, ModelIndex());
        var folder = DiffusersFolder.Open(root);
        var exDir = Assert.Throws<DirectoryNotFoundException>(() => folder.ReadConfig("unet"));
        Assert.Contains("'unet/'", exDir.Message);
        Assert.Contains("UNet3DConditionModel", exDir.Message);

        Directory.CreateDirectory(PathOf("vae"));
        File.WriteAllText(PathOf("vae/notes.txt"), "");
        var exCfg = Assert.Throws<FileNotFoundException>(() => folder.ReadConfig("vae"));
        Assert.Contains("vae/config.json", exCfg.Message);
        var exW = Assert.Throws<FileNotFoundException>(() => folder.OpenWeights("vae"));
        Assert.Contains("vae/diffusion_pytorch_model.safetensors", exW.Message);
        Assert.Contains("vae/diffusion_pytorch_model.bin", exW.Message);
        Assert.Contains("notes.txt", exW.Message);
        var exV = Assert.Throws<FileNotFoundException>(() => folder.WeightsPath("vae", "fp16"));
        Assert.Contains("diffusion_pytorch_model.fp16.safetensors", exV.Message);

        Directory.CreateDirectory(PathOf("tokenizer"));
        File.WriteAllText(PathOf("tokenizer/vocab.json"), "{}");
        Assert.Contains("tokenizer/merges.txt", Assert.Throws<FileNotFoundException>(() => folder.TokenizerFiles()).Message);

        File.WriteAllText(PathOf("vae/config.json"), "{ not json");
        Assert.Contains("vae", Assert.Throws<InvalidDataException>(() => folder.ReadConfig("vae")).Message);
    }
}
