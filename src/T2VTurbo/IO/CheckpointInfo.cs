using static TorchSharp.torch;

namespace T2VTurbo.IO;

/// <summary>What a weight file holds, recognised from its key names: the sub-models present (by the prefixes of
/// VideoCrafter2's model.ckpt), the T2V-Turbo extras and what is missing.</summary>
public sealed record CheckpointInfo(
    string Path,
    string Kind,
    IReadOnlyDictionary<string, int> KeysPerPrefix,
    IReadOnlyDictionary<string, long> ParametersPerPrefix,
    IReadOnlyDictionary<string, int> DTypes,
    long Parameters,
    IReadOnlyList<string> Notes)
{
    public const string UnetPrefix = "model.diffusion_model.";
    public const string VaePrefix = "first_stage_model.";
    public const string TextPrefix = "cond_stage_model.";
    private static readonly string[] KnownPrefixes = { UnetPrefix, VaePrefix, TextPrefix };

    public static CheckpointInfo Read(string path)
    {
        if (Directory.Exists(path)) return DescribeDiffusersFolder(path);
        if (TorchCheckpoint.IsTensorList(path)) return DescribeLoraList(path);
        using var src = Checkpoint.Open(path);
        return Describe(src);
    }

    /// <summary>The official LoRA format (spec §3.3): [up_0, down_0, up_1, down_1, …], no names. The rank is the
    /// leading size of the down tensors; the first pair tells the family (VideoCrafter2 starts with time_embed.0, a
    /// Linear 320→1280; ModelScope with conv_in, a Conv2d 4→320).</summary>
    private static CheckpointInfo DescribeLoraList(string path)
    {
        var shapes = TorchCheckpoint.ListShapes(path);
        var notes = new List<string>();
        long total = shapes.Sum(s => s.Shape.Aggregate(1L, (a, b) => a * b));
        var dtypes = shapes.GroupBy(s => SafeTensors.ToName(s.DType)).ToDictionary(g => g.Key, g => g.Count());
        string kind;
        if (shapes.Count % 2 != 0 || shapes.Count == 0)
            kind = $"pickled list of {shapes.Count} tensors (not an up/down LoRA list)";
        else
        {
            var ranks = Enumerable.Range(0, shapes.Count / 2).Select(i => shapes[2 * i + 1].Shape[0]).ToList();
            long r = ranks.Max();
            var first = shapes[0].Shape;
            string family = first.Length == 2 ? "VideoCrafter2" : first.Length == 4 ? "ModelScope" : "unknown";
            kind = $"T2V-Turbo LoRA, official list format ({family} UNet): {shapes.Count / 2} modules, rank {r}";
            notes.Add("the base weight of time_cond_proj is not in this file (spec §3.5): a fixed-seed default init stands in; " +
                      "prefer the merged checkpoint where one exists");
            notes.Add("no module names: they come from the UNet's module order when loaded (generate --lora, convert)");
        }
        return new CheckpointInfo(path, kind, new Dictionary<string, int> { ["(list)"] = shapes.Count },
            new Dictionary<string, long> { ["(list)"] = total }, dtypes, total, notes);
    }

    public static CheckpointInfo Describe(ICheckpointSource src)
    {
        var keys = src.Keys.ToList();
        var perPrefix = new Dictionary<string, int>();
        var paramsPerPrefix = new Dictionary<string, long>();
        var dtypes = new Dictionary<string, int>();
        long total = 0;
        foreach (var k in keys)
        {
            string p = KnownPrefixes.FirstOrDefault(x => k.StartsWith(x, StringComparison.Ordinal)) ?? "(other)";
            long n = src.Shape(k).Aggregate(1L, (a, b) => a * b);
            perPrefix[p] = perPrefix.GetValueOrDefault(p) + 1;
            paramsPerPrefix[p] = paramsPerPrefix.GetValueOrDefault(p) + n;
            total += n;
            var d = SafeTensors.ToName(src.DType(k));
            dtypes[d] = dtypes.GetValueOrDefault(d) + 1;
        }
        var notes = new List<string>();
        string kind = Classify(keys, notes);
        return new CheckpointInfo(src.Path, kind, perPrefix, paramsPerPrefix, dtypes, total, notes);
    }

    /// <summary>A diffusers model folder (the ModelScope layout): components and their parameter counts.</summary>
    private static CheckpointInfo DescribeDiffusersFolder(string root)
    {
        var folder = DiffusersFolder.Open(root);
        var perPrefix = new Dictionary<string, int>();
        var paramsPer = new Dictionary<string, long>();
        var dtypes = new Dictionary<string, int>();
        var notes = new List<string>();
        bool student = false;
        foreach (var c in new[] { "unet", "vae", "text_encoder" })
        {
            if (!folder.HasComponent(c)) { notes.Add($"missing component folder {c}/"); continue; }
            using var src = folder.OpenWeights(c);
            perPrefix[c + "/"] = src.Keys.Count();
            paramsPer[c + "/"] = src.Keys.Sum(k => src.Shape(k).Aggregate(1L, (a, b) => a * b));
            foreach (var k in src.Keys) { var d = SafeTensors.ToName(src.DType(k)); dtypes[d] = dtypes.GetValueOrDefault(d) + 1; }
            if (c == "unet") student = src.Contains("time_embedding.cond_proj.weight");
        }
        if (!student) notes.Add("teacher UNet: T2V-Turbo (MS) needs its LoRA (--lora unet_lora.pt, rank 32); time_embedding.cond_proj then starts from a fixed-seed init (spec §3.5)");
        string kind = $"ModelScope diffusers folder ({folder.PipelineClass ?? "no pipeline class"}), {(student ? "T2V-Turbo (MS) student UNet" : "ModelScopeT2V teacher UNet")}";
        return new CheckpointInfo(root, kind, perPrefix, paramsPer, dtypes, paramsPer.Values.Sum(), notes);
    }

    private static string Classify(List<string> keys, List<string> notes)
    {
        if (keys.Any(k => k.EndsWith("time_embedding.linear_1.weight", StringComparison.Ordinal)))
        {
            bool student = keys.Any(k => k.EndsWith("time_embedding.cond_proj.weight", StringComparison.Ordinal));
            bool single = keys.Any(k => k.StartsWith("vae.", StringComparison.Ordinal)) && keys.Any(k => k.StartsWith("text_encoder.", StringComparison.Ordinal));
            return $"ModelScope {(single ? "model in one file (unet., vae., text_encoder.)" : "UNet")}, {(student ? "T2V-Turbo (MS) student" : "teacher")}";
        }
        bool Has(string k) => keys.Contains(k);
        bool hasUnet = keys.Any(k => k.StartsWith(UnetPrefix, StringComparison.Ordinal));
        bool bareUnet = Has("input_blocks.0.0.weight") && Has("out.2.weight");
        bool hasVae = keys.Any(k => k.StartsWith(VaePrefix, StringComparison.Ordinal));
        bool hasText = keys.Any(k => k.StartsWith(TextPrefix, StringComparison.Ordinal));
        if (hasUnet)
        {
            bool turbo = Has(UnetPrefix + "time_cond_proj.weight");
            bool motion = Has(UnetPrefix + "motion_cond_proj.weight");
            if (!hasVae) notes.Add("no VAE (first_stage_model.*): take it from VideoCrafter2 model.ckpt");
            if (!hasText) notes.Add("no text encoder (cond_stage_model.*): take it from VideoCrafter2 model.ckpt");
            return motion ? "T2V-Turbo v2 full model (VideoCrafter2 layout, motion-guided UNet)"
                : turbo ? "T2V-Turbo merged model (VideoCrafter2 layout, UNet with time_cond_proj)"
                : "VideoCrafter2 model (teacher UNet + VAE + OpenCLIP text encoder)";
        }
        if (bareUnet)
        {
            bool turbo = Has("time_cond_proj.weight");
            bool motion = Has("motion_cond_proj.weight");
            notes.Add("bare UNet state dict: VAE and text encoder come from VideoCrafter2 model.ckpt");
            return motion ? "T2V-Turbo v2 UNet (bare, with motion_cond_proj/combine_proj; e.g. unet_mg.pt)"
                : turbo ? "T2V-Turbo UNet (bare, with time_cond_proj)"
                : "VideoCrafter2 UNet (bare)";
        }
        if (hasVae && !hasText) return "KL autoencoder (first_stage_model.*)";
        if (hasText && !hasVae) return "OpenCLIP text encoder (cond_stage_model.*)";
        return "unrecognised weight file";
    }

    public static ScalarType? ParseDType(string? name) => name?.ToLowerInvariant() switch
    {
        null or "" => null,
        "fp32" or "float32" or "f32" => ScalarType.Float32,
        "fp16" or "float16" or "f16" or "half" => ScalarType.Float16,
        "bf16" or "bfloat16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"unknown dtype '{name}': use fp32, bf16 or fp16"),
    };
}
