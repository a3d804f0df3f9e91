using T2VTurbo.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Lora;

/// <summary>LoRA up/down weights per target module name. Reads the official unet_lora.pt (a pickled list
/// [up_0, down_0, up_1, down_1, …] in target order, spec §3.3) and the named safetensors form
/// (`&lt;module&gt;.lora_up.weight` / `.lora_down.weight`).</summary>
public sealed class LoraWeights : IDisposable
{
    public sealed record Pair(Tensor Up, Tensor Down);
    private readonly Dictionary<string, Pair> pairs;

    public LoraWeights(Dictionary<string, Pair> pairs) => this.pairs = pairs;
    public IReadOnlyDictionary<string, Pair> Pairs => pairs;

    /// <summary>Pairs a list of tensors with the targets of <paramref name="unet"/> in order, checking every shape
    /// before anything is used: a list from another architecture fails on its first mismatch, naming the module.</summary>
    public static LoraWeights FromList(IReadOnlyList<Tensor> list, nn.Module unet, string source)
    {
        var targets = LoraTargets.Find(unet);
        if (list.Count != 2 * targets.Count)
            throw new InvalidDataException($"{source}: {list.Count} tensors, but this UNet has {targets.Count} LoRA targets " +
                                           $"(expected {2 * targets.Count} = up/down per Linear/Conv2d/Conv3d); wrong UNet config or not a LoRA file for it");
        var d = new Dictionary<string, Pair>();
        for (int i = 0; i < targets.Count; i++)
        {
            var t = targets[i];
            var up = list[2 * i];
            var down = list[2 * i + 1];
            long r = down.shape[0];
            if (!up.shape.SequenceEqual(t.UpShape(r)) || !down.shape.SequenceEqual(t.DownShape(r)))
                throw new InvalidDataException($"{source}: tensors {2 * i},{2 * i + 1} do not fit module #{i} '{t.Name}' ({t.Kind} {SafeTensors.ShapeString(t.WeightShape)}): " +
                                               $"up {SafeTensors.ShapeString(up.shape)}, down {SafeTensors.ShapeString(down.shape)}; expected up {SafeTensors.ShapeString(t.UpShape(r))}, down {SafeTensors.ShapeString(t.DownShape(r))}");
            d[t.Name] = new Pair(up, down);
        }
        return new LoraWeights(d);
    }

    /// <summary>Reads the named form from any checkpoint source, optionally under a key prefix.</summary>
    public static LoraWeights FromNamed(ICheckpointSource src, nn.Module unet, string prefix = "")
    {
        var d = new Dictionary<string, Pair>();
        var missing = new List<string>();
        foreach (var t in LoraTargets.Find(unet))
        {
            string up = $"{prefix}{t.Name}.lora_up.weight", down = $"{prefix}{t.Name}.lora_down.weight";
            if (!src.Contains(up) || !src.Contains(down)) { missing.Add(t.Name); continue; }
            d[t.Name] = new Pair(src.Load(up, ScalarType.Float32), src.Load(down, ScalarType.Float32));
        }
        var known = new HashSet<string>(d.Keys.SelectMany(n => new[] { $"{prefix}{n}.lora_up.weight", $"{prefix}{n}.lora_down.weight" }));
        var extra = src.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && !known.Contains(k)).ToList();
        if (missing.Count > 0 || extra.Count > 0)
            throw new InvalidDataException($"{src.Path}: LoRA does not fit this UNet: {missing.Count} targets without weights" +
                                           (missing.Count > 0 ? $" (first: {missing[0]})" : "") + $", {extra.Count} unknown keys" +
                                           (extra.Count > 0 ? $" (first: {extra[0]})" : ""));
        return new LoraWeights(d);
    }

    /// <summary>Reads a LoRA file of either form: a pickled list (.pt) or named tensors (.safetensors / .pt dict).</summary>
    public static LoraWeights Read(string path, nn.Module unet)
    {
        if (TorchCheckpoint.IsTensorList(path))
        {
            var list = TorchCheckpoint.ReadTensorList(path);
            return FromList(list, unet, path);
        }
        using var src = Checkpoint.Open(path);
        string prefix = src.Keys.Any(k => k.StartsWith("model.diffusion_model.", StringComparison.Ordinal)) ? "model.diffusion_model." : "";
        return FromNamed(src, unet, prefix);
    }

    /// <summary>The named form, for safetensors.</summary>
    public Dictionary<string, Tensor> ToNamed(string prefix = "")
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (n, p) in pairs)
        {
            d[$"{prefix}{n}.lora_up.weight"] = p.Up;
            d[$"{prefix}{n}.lora_down.weight"] = p.Down;
        }
        return d;
    }

    public void Dispose()
    {
        foreach (var p in pairs.Values) { p.Up.Dispose(); p.Down.Dispose(); }
        pairs.Clear();
    }
}
