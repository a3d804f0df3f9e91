using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Lora;
using T2VTurbo.Models;
using T2VTurbo.Models.ModelScope;
using T2VTurbo.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Pipelines;

/// <summary>Loads the ModelScope family (spec §1.6, §2.6): a diffusers folder (model_index.json; unet/, vae/,
/// text_encoder/, tokenizer/) or one converted safetensors file with the components under "unet.", "vae.",
/// "text_encoder." and their config.json texts in the metadata ("unet_config", "vae_config", "text_encoder_config").</summary>
public static class ModelScopeLoader
{
    public const string CondProjKey = "time_embedding.cond_proj.weight";
    private static readonly string[] Components = ["unet", "vae", "text_encoder"];

    /// <summary>True when <paramref name="path"/> holds ModelScope weights: a folder with model_index.json, or a file
    /// whose keys are diffusers UNet names.</summary>
    public static bool Recognises(string path)
    {
        if (Directory.Exists(path)) return File.Exists(Path.Combine(path, DiffusersFolder.ModelIndexFile));
        if (!File.Exists(path) || TorchCheckpoint.IsTensorList(path)) return false;
        using var src = Checkpoint.Open(path);
        return src.Keys.Any(k => k.EndsWith("time_embedding.linear_1.weight", StringComparison.Ordinal));
    }

    public static TextToVideoPipeline Load(ModelFiles files, GenerationMode mode, Device device, ScalarType dtype,
        Action<string>? warn = null, Action<string>? progress = null)
    {
        if (mode == GenerationMode.TurboV2)
            throw new ArgumentException("turbo-v2 (motion guidance) exists only for VideoCrafter2; use --mode turbo or teacher with ModelScope weights");
        using var parts = Directory.Exists(files.Model) ? Parts.FromFolder(files.Model) : Parts.FromFile(files.Model);

        progress?.Invoke("text encoder");
        var text = ModelLoader.Build(() => new HfClipTextModel(HfClipTextConfig.FromJson(parts.Config("text_encoder"))), device, dtype);
        text.LoadWeights(parts.Source("text_encoder"), parts.Prefix("text_encoder"));
        progress?.Invoke("VAE");
        // Built on the target device in the target dtype, then filled tensor by tensor (no float32 CPU copy first).
        var vae = ModelLoader.Build(() => new KlAutoencoder(DiffusersVae.ConfigFromJson(parts.Config("vae"))), device, dtype);
        using (var mapped = new DiffusersVaeSource(parts.Source("vae"), vae.Config.NumResolutions, parts.Prefix("vae")))
            StateDictLoader.Load(vae, mapped);

        progress?.Invoke("UNet");
        using var bare = files.Unet is null ? null : Checkpoint.Open(files.Unet);
        var unetSource = bare ?? parts.Source("unet");
        string prefix = bare is null ? parts.Prefix("unet") : bare.Keys.Any(k => k.StartsWith("unet.", StringComparison.Ordinal)) ? "unet." : "";
        bool hasCondProj = unetSource.Contains(prefix + CondProjKey);
        var cfg = UnetMsConfig.FromJson(parts.Config("unet"));
        bool student = hasCondProj || files.Lora is not null || mode != GenerationMode.Teacher;
        cfg = cfg with { time_cond_proj_dim = student ? cfg.time_cond_proj_dim ?? 256 : null };
        var unet = new UnetMs(cfg, device, dtype);
        var allowMissing = student && !hasCondProj ? new[] { CondProjKey } : Array.Empty<string>();
        StateDictLoader.Load(unet, unetSource, new LoadOptions { Prefix = prefix, AllowMissing = allowMissing });
        if (allowMissing.Length > 0)
        {
            ModelLoader.InitConditionProjection(unet, CondProjKey);
            warn?.Invoke($"{CondProjKey} is not in these weights (the MS teacher has none and the official LoRA holds only its delta, " +
                         "spec §3.5): using PyTorch's default init from a fixed seed, as the reference app uses a random one.");
        }
        if (files.Lora is not null)
        {
            progress?.Invoke("LoRA");
            using var lora = LoraWeights.Read(files.Lora, unet);
            LoraMerge.Merge(unet, lora);
        }
        return new TextToVideoPipeline(ModelFamily.ModelScope, parts.Tokenizer(), new HfClipPrompts(text), new MsDenoiser(unet), vae,
            new Schedulers.NoiseScheduleConfig { use_scale = false }) { ModelName = Path.GetFileName(files.Model.TrimEnd('/')) };
    }

    /// <summary>The frozen teacher for distillation: the UNet of <paramref name="files"/> without cond_proj (a student
    /// checkpoint's cond_proj is ignored).</summary>
    public static UnetMs LoadTeacher(ModelFiles files, Device device, ScalarType dtype)
    {
        using var parts = Directory.Exists(files.Model) ? Parts.FromFolder(files.Model) : Parts.FromFile(files.Model);
        using var bare = files.Unet is null ? null : Checkpoint.Open(files.Unet);
        var source = bare ?? parts.Source("unet");
        string prefix = bare is null ? parts.Prefix("unet") : bare.Keys.Any(k => k.StartsWith("unet.", StringComparison.Ordinal)) ? "unet." : "";
        var unet = new UnetMs(UnetMsConfig.FromJson(parts.Config("unet")) with { time_cond_proj_dim = null }, device, dtype);
        StateDictLoader.Load(unet, source, new LoadOptions { Prefix = prefix, IgnoreUnexpected = [CondProjKey] });
        return unet;
    }

    /// <summary>Where each component's config and weights come from.</summary>
    private sealed class Parts : IDisposable
    {
        private readonly Dictionary<string, (JsonObject Config, ICheckpointSource Source, string Prefix)> parts = new();
        private readonly List<ICheckpointSource> owned = new();
        private DiffusersFolder? folder;

        public JsonObject Config(string c) => parts[c].Config;
        public ICheckpointSource Source(string c) => parts[c].Source;
        public string Prefix(string c) => parts[c].Prefix;

        public ClipTokenizer Tokenizer()
        {
            // The MS tokenizer is the CLIP vocabulary with Hugging Face's behaviour (pad "!" = 0, specials kept literal).
            if (folder is null || !folder.HasComponent("tokenizer")) return ClipTokenizer.FromEmbedded(ClipTokenizerOptions.HuggingFace);
            var t = folder.TokenizerFiles();
            return ClipTokenizer.FromFiles(t.VocabJson, t.MergesTxt, ClipTokenizerOptions.HuggingFace with { ContextLength = t.ModelMaxLength ?? 77 });
        }

        public static Parts FromFolder(string root)
        {
            var p = new Parts { folder = DiffusersFolder.Open(root) };
            try
            {
                foreach (var c in Components)
                {
                    var src = p.folder.OpenWeights(c);
                    p.owned.Add(src);
                    p.parts[c] = (p.folder.ReadConfig(c), src, "");
                }
                return p;
            }
            catch
            {
                p.Dispose();
                throw;
            }
        }

        public static Parts FromFile(string path)
        {
            var src = Checkpoint.Open(path);
            var p = new Parts();
            p.owned.Add(src);
            var meta = (src as SafeTensorsFile)?.Metadata ?? new Dictionary<string, string>();
            foreach (var c in Components)
            {
                if (!meta.TryGetValue($"{c}_config", out var json))
                {
                    p.Dispose();
                    throw new InvalidDataException($"{path}: a single-file ModelScope model needs its {c} config in the safetensors metadata " +
                                                   $"('{c}_config'); write it with `t2v-turbo convert <diffusers folder> OUT.safetensors`");
                }
                p.parts[c] = (JsonNode.Parse(json)!.AsObject(), src, c + ".");
            }
            return p;
        }

        public void Dispose()
        {
            foreach (var s in owned) s.Dispose();
        }
    }

    /// <summary>Writes a diffusers folder as one safetensors file: every tensor under "&lt;component&gt;.", the three
    /// config.json texts in the metadata, VAE and text keys as stored (loading maps them).</summary>
    public static void ConvertFolder(string root, string outPath, ScalarType? dtype, Action<string>? onTensor = null)
    {
        var folder = DiffusersFolder.Open(root);
        var sources = Components.ToDictionary(c => c, c => folder.OpenWeights(c));
        try
        {
            var specs = new List<SafeTensors.TensorSpec>();
            foreach (var (c, src) in sources)
                foreach (var k in src.Keys)
                {
                    var st = src.DType(k);
                    var target = dtype is { } d && st is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 ? d : st;
                    specs.Add(new SafeTensors.TensorSpec($"{c}.{k}", target, src.Shape(k)));
                }
            var meta = Components.ToDictionary(c => $"{c}_config", c => folder.ReadConfig(c).ToJsonString());
            meta["format"] = "pt";
            meta["family"] = "modelscope";
            SafeTensors.Save(outPath, specs, name =>
            {
                onTensor?.Invoke(name);
                int dot = name.IndexOf('.');
                return sources[name[..dot]].Load(name[(dot + 1)..]);
            }, meta);
        }
        finally
        {
            foreach (var s in sources.Values) s.Dispose();
        }
    }
}
