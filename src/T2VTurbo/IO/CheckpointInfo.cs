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
        using var src = Checkpoint.Open(path);
        return Describe(src);
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
            if (src is SafeTensorsFile st)
            {
                var d = st.Info(k).DType;
                dtypes[d] = dtypes.GetValueOrDefault(d) + 1;
            }
        }
        var notes = new List<string>();
        string kind = Classify(keys, notes);
        return new CheckpointInfo(src.Path, kind, perPrefix, paramsPerPrefix, dtypes, total, notes);
    }

    private static string Classify(List<string> keys, List<string> notes)
    {
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
