using System.Text.Json;
using System.Text.Json.Nodes;

namespace T2VTurbo.IO;

/// <summary>The files of a tokenizer/ component (HF CLIPTokenizer layout). Optional files are null when absent.</summary>
public sealed record DiffusersTokenizerFiles(string VocabJson, string MergesTxt, string? TokenizerConfigJson, string? SpecialTokensMapJson)
{
    /// <summary><c>model_max_length</c> of tokenizer_config.json (null when absent or not a small integer).</summary>
    public int? ModelMaxLength => TokenizerConfigJson is null ? null
        : DiffusersFolder.ReadJson(TokenizerConfigJson)["model_max_length"] is JsonValue v && v.TryGetValue<long>(out var n) && n is > 0 and < 1_000_000 ? (int)n : null;

    /// <summary>The effective pad token text: special_tokens_map.json overrides tokenizer_config.json (as in transformers).</summary>
    public string? PadToken => TokenText(SpecialTokensMapJson, "pad_token") ?? TokenText(TokenizerConfigJson, "pad_token");

    private static string? TokenText(string? file, string name) => file is null ? null : DiffusersFolder.ReadJson(file)[name] switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonObject o => o["content"]?.GetValue<string>(),
        _ => null,
    };
}

/// <summary>
/// A diffusers pipeline folder (as downloaded from the Hub, e.g. ali-vilab/text-to-video-ms-1.7b): <c>model_index.json</c>
/// naming the components, and one sub-folder per component (<c>unet/</c>, <c>vae/</c>, <c>text_encoder/</c>,
/// <c>tokenizer/</c>, ...) with its <c>config.json</c> and weights. Weight file names, in order of preference:
/// <c>diffusion_pytorch_model[.variant].safetensors</c>, <c>model[.variant].safetensors</c>,
/// <c>diffusion_pytorch_model[.variant].bin</c>, <c>pytorch_model[.variant].bin</c> (.bin = PyTorch zip, read without
/// Python); a sharded <c>*.index.json</c> of any of them is read too.
/// </summary>
public sealed class DiffusersFolder
{
    public const string ModelIndexFile = "model_index.json";
    private static readonly string[] WeightStems = ["diffusion_pytorch_model", "model", "pytorch_model"];

    public string Root { get; }
    /// <summary>model_index.json as read.</summary>
    public JsonObject ModelIndex { get; }
    /// <summary>Components listed in model_index.json: name → (library, class), e.g. "vae" → ("diffusers", "AutoencoderKL").
    /// Entries whose value is [null, null] (absent optional components) are left out.</summary>
    public IReadOnlyDictionary<string, (string Library, string ClassName)> Components { get; }

    private DiffusersFolder(string root, JsonObject index)
    {
        Root = root;
        ModelIndex = index;
        var components = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        foreach (var (name, value) in index)
        {
            if (name.StartsWith('_') || value is not JsonArray { Count: 2 } pair) continue;
            if (pair[0] is JsonValue lib && lib.TryGetValue<string>(out var l) && pair[1] is JsonValue cls && cls.TryGetValue<string>(out var c))
                components[name] = (l, c);
        }
        Components = components;
    }

    /// <summary>Opens the folder; model_index.json must exist.</summary>
    public static DiffusersFolder Open(string root)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"diffusers model folder not found: {root}");
        var index = System.IO.Path.Combine(root, ModelIndexFile);
        if (!File.Exists(index))
            throw new FileNotFoundException($"{root} is not a diffusers model folder: {ModelIndexFile} is missing", index);
        return new DiffusersFolder(System.IO.Path.GetFullPath(root), ReadJson(index));
    }

    /// <summary>_class_name of model_index.json (e.g. "TextToVideoSDPipeline").</summary>
    public string? PipelineClass => ModelIndex["_class_name"]?.GetValue<string>();

    /// <summary>The class model_index.json gives a component (e.g. "AutoencoderKL"), or null when not listed.</summary>
    public string? ClassOf(string component) => Components.TryGetValue(component, out var c) ? c.ClassName : null;

    public bool HasComponent(string component) => Directory.Exists(System.IO.Path.Combine(Root, component));

    /// <summary>The component's folder; throws naming it when missing.</summary>
    public string ComponentDir(string component)
    {
        var dir = System.IO.Path.Combine(Root, component);
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"{Root}: component folder '{component}/' is missing" +
                (Components.ContainsKey(component) ? $" (model_index.json lists it as {Components[component].ClassName})" : ""));
        return dir;
    }

    /// <summary>The component's config.json; throws naming the file when missing.</summary>
    public JsonObject ReadConfig(string component)
    {
        var path = System.IO.Path.Combine(ComponentDir(component), "config.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"{Root}: {component}/config.json is missing", path);
        return ReadJson(path);
    }

    /// <summary>The weight file (or shard index) of a component. <paramref name="variant"/> ("fp16") picks
    /// <c>name.fp16.ext</c> files only; null prefers the plain files and falls back to the fp16 variant when only that
    /// exists. Throws naming every file name it looked for.</summary>
    public string WeightsPath(string component, string? variant = null)
    {
        var dir = ComponentDir(component);
        var candidates = Candidates(variant).ToList();
        if (variant is null) candidates.AddRange(Candidates("fp16"));
        foreach (var name in candidates)
        {
            var path = System.IO.Path.Combine(dir, name);
            if (File.Exists(path)) return path;
        }
        var present = Directory.EnumerateFiles(dir).Select(System.IO.Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToList();
        throw new FileNotFoundException($"{Root}: no weights for '{component}'" + (variant is null ? "" : $" (variant \"{variant}\")") +
            $"; looked for {string.Join(", ", candidates.Select(c => $"{component}/{c}"))}; the folder holds: " +
            (present.Count == 0 ? "nothing" : string.Join(", ", present)), System.IO.Path.Combine(dir, candidates[0]));
    }

    /// <summary>Opens the component's weights as one <see cref="ICheckpointSource"/> (tensors read lazily).</summary>
    public ICheckpointSource OpenWeights(string component, string? variant = null)
    {
        var path = WeightsPath(component, variant);
        return IsShardIndex(path) ? ShardedCheckpoint.Open(path) : Checkpoint.Open(path);
    }

    /// <summary>vocab.json and merges.txt (required) plus tokenizer_config.json / special_tokens_map.json (optional)
    /// of a CLIPTokenizer component.</summary>
    public DiffusersTokenizerFiles TokenizerFiles(string component = "tokenizer")
    {
        var dir = ComponentDir(component);
        string Required(string name)
        {
            var p = System.IO.Path.Combine(dir, name);
            return File.Exists(p) ? p : throw new FileNotFoundException($"{Root}: {component}/{name} is missing", p);
        }
        string? Optional(string name)
        {
            var p = System.IO.Path.Combine(dir, name);
            return File.Exists(p) ? p : null;
        }
        return new DiffusersTokenizerFiles(Required("vocab.json"), Required("merges.txt"), Optional("tokenizer_config.json"), Optional("special_tokens_map.json"));
    }

    private static IEnumerable<string> Candidates(string? variant)
    {
        string v = variant is null ? "" : "." + variant;
        foreach (var ext in new[] { "safetensors", "bin" })
            foreach (var stem in WeightStems)
            {
                if (ext == "safetensors" && stem == "pytorch_model") continue;   // transformers writes model.safetensors
                if (ext == "bin" && stem == "model") continue;                   // and pytorch_model.bin
                yield return $"{stem}{v}.{ext}";
                // Shard indexes: diffusers puts the variant before ".json", transformers before the extension.
                if (variant is null) yield return $"{stem}.{ext}.index.json";
                else
                {
                    yield return $"{stem}.{ext}.index{v}.json";
                    yield return $"{stem}{v}.{ext}.index.json";
                }
            }
    }

    private static bool IsShardIndex(string path)
    {
        var name = System.IO.Path.GetFileName(path);
        return name.EndsWith(".json", StringComparison.Ordinal) && name.Contains(".index", StringComparison.Ordinal);
    }

    internal static JsonObject ReadJson(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new InvalidDataException($"{path}: expected a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: invalid JSON ({e.Message})", e);
        }
    }
}
