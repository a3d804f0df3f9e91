using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.IO;

/// <summary>Raised when a checkpoint does not fit a module: every missing, unexpected and mis-shaped key is listed.</summary>
public sealed class StateDictMismatchException(string message, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
    IReadOnlyList<string> shapeMismatches) : Exception(message)
{
    public IReadOnlyList<string> Missing { get; } = missing;
    public IReadOnlyList<string> Unexpected { get; } = unexpected;
    public IReadOnlyList<string> ShapeMismatches { get; } = shapeMismatches;
}

/// <summary>Options of <see cref="StateDictLoader.Load"/>.</summary>
public sealed record LoadOptions
{
    /// <summary>Key prefix of the sub-model inside the checkpoint ("model.diffusion_model.", "first_stage_model.",
    /// "cond_stage_model.", or ""). Keys outside the prefix are ignored.</summary>
    public string Prefix { get; init; } = "";
    /// <summary>Strict: any missing, unexpected or mis-shaped key is an error. Non-strict: missing keys keep their
    /// current values and unexpected keys are skipped (shape mismatches are still errors).</summary>
    public bool Strict { get; init; } = true;
    /// <summary>Module keys that may be absent from the checkpoint even when strict (documented optional weights).</summary>
    public IReadOnlyCollection<string> AllowMissing { get; init; } = Array.Empty<string>();
    /// <summary>Checkpoint keys (after the prefix) that are known and intentionally not used by the module.</summary>
    public IReadOnlyCollection<string> IgnoreUnexpected { get; init; } = Array.Empty<string>();
}

/// <summary>Copies checkpoint tensors into a module's parameters and persistent buffers, one tensor at a time, in the
/// module's own dtype and device (peak extra memory: one tensor).</summary>
public static class StateDictLoader
{
    public sealed record Report(IReadOnlyList<string> Loaded, IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected);

    public static Report Load(nn.Module module, ICheckpointSource source, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        string prefix = options.Prefix;
        var targets = module.state_dict();
        var sourceKeys = source.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(k => k[prefix.Length..], k => k, StringComparer.Ordinal);

        var missing = targets.Keys.Where(k => !sourceKeys.ContainsKey(k) && !options.AllowMissing.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var unexpected = sourceKeys.Keys.Where(k => !targets.ContainsKey(k) && !options.IgnoreUnexpected.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var shapes = new List<string>();
        foreach (var (k, t) in targets)
        {
            if (!sourceKeys.TryGetValue(k, out var full)) continue;
            var s = source.Shape(full);
            if (!s.SequenceEqual(t.shape))
                shapes.Add($"{prefix}{k}: checkpoint {SafeTensors.ShapeString(s)} vs module {SafeTensors.ShapeString(t.shape)}");
        }
        bool fail = shapes.Count > 0 || (options.Strict && (missing.Count > 0 || unexpected.Count > 0));
        if (fail)
        {
            var msg = new StringBuilder();
            msg.Append($"{source.Path}: checkpoint does not match {module.GetType().Name}");
            if (prefix.Length > 0) msg.Append($" (prefix \"{prefix}\")");
            msg.Append($": {missing.Count} missing, {unexpected.Count} unexpected, {shapes.Count} shape mismatches.");
            Append(msg, "missing", missing.Select(k => prefix + k));
            Append(msg, "unexpected", unexpected.Select(k => prefix + k));
            Append(msg, "shape mismatch", shapes);
            if (missing.Count == targets.Count && sourceKeys.Count == 0)
                msg.Append($"\n  hint: no key starts with \"{prefix}\"; first keys are: {string.Join(", ", source.Keys.Take(5))}");
            throw new StateDictMismatchException(msg.ToString(), missing, unexpected, shapes);
        }

        var loaded = new List<string>();
        using (torch.no_grad())
        {
            foreach (var (k, t) in targets)
            {
                if (!sourceKeys.TryGetValue(k, out var full)) continue;
                using var v = source.Load(full, t.is_floating_point() ? t.dtype : null, t.device);
                t.copy_(v);
                loaded.Add(k);
            }
        }
        return new Report(loaded, missing, unexpected);
    }

    private static void Append(StringBuilder sb, string label, IEnumerable<string> items)
    {
        const int max = 40;
        var list = items.ToList();
        foreach (var i in list.Take(max)) sb.Append($"\n  {label}: {i}");
        if (list.Count > max) sb.Append($"\n  ... and {list.Count - max} more {label} keys");
    }

    /// <summary>Loads <paramref name="path"/> (safetensors, .ckpt, .pt, .bin) into the module.</summary>
    public static T LoadFile<T>(this T module, string path, LoadOptions? options = null) where T : nn.Module
    {
        using var src = Checkpoint.Open(path);
        Load(module, src, options);
        return module;
    }

    /// <summary>Loads from an already open source (one open file can feed several sub-models by prefix).</summary>
    public static T LoadFrom<T>(this T module, ICheckpointSource source, string prefix = "", bool strict = true) where T : nn.Module
    {
        Load(module, source, new LoadOptions { Prefix = prefix, Strict = strict });
        return module;
    }
}
