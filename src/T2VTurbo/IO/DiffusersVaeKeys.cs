using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace T2VTurbo.IO;

/// <summary>
/// Names of a diffusers <c>AutoencoderKL</c> state dict (ModelScope's <c>vae/diffusion_pytorch_model.*</c>) in lvdm's
/// spelling (VideoCrafter2's <c>first_stage_model.*</c> without the prefix), which our <c>KlAutoencoder</c> uses. Same
/// math, different names (fixtures/vae_ms README, <c>diffusers_to_lvdm_key_map</c>):
/// <c>down_blocks.i.resnets.j</c> → <c>down.i.block.j</c>, <c>conv_shortcut</c> → <c>nin_shortcut</c>,
/// <c>mid_block.resnets.0/1</c> → <c>mid.block_1/2</c>, <c>mid_block.attentions.0.{group_norm, to_q, to_k, to_v, to_out.0}</c>
/// (legacy diffusers ≤ 0.16: <c>{group_norm, query, key, value, proj_attn}</c>) → <c>mid.attn_1.{norm, q, k, v, proj_out}</c>,
/// <c>conv_norm_out</c> → <c>norm_out</c>, and decoder levels reversed: <c>up_blocks.i</c> → <c>up.(n−1−i)</c>
/// (diffusers numbers them in run order, deepest first; lvdm by resolution).
/// </summary>
public static class DiffusersVaeKeys
{
    private static readonly Regex Resnet = new(@"^(encoder|decoder)\.(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(norm1|conv1|norm2|conv2|conv_shortcut)\.(weight|bias)$", RegexOptions.CultureInvariant);
    private static readonly Regex Resample = new(@"^(encoder\.down_blocks|decoder\.up_blocks)\.(\d+)\.(downsamplers|upsamplers)\.0\.conv\.(weight|bias)$", RegexOptions.CultureInvariant);
    private static readonly Regex MidResnet = new(@"^(encoder|decoder)\.mid_block\.resnets\.([01])\.(norm1|conv1|norm2|conv2|conv_shortcut)\.(weight|bias)$", RegexOptions.CultureInvariant);
    private static readonly Regex MidAttention = new(@"^(encoder|decoder)\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0|query|key|value|proj_attn)\.(weight|bias)$", RegexOptions.CultureInvariant);
    private static readonly Regex Plain = new(@"^((encoder|decoder)\.(conv_in|conv_out)|quant_conv|post_quant_conv)\.(weight|bias)$", RegexOptions.CultureInvariant);
    private static readonly Regex NormOut = new(@"^(encoder|decoder)\.conv_norm_out\.(weight|bias)$", RegexOptions.CultureInvariant);
    private static readonly Regex UpBlockIndex = new(@"^decoder\.up_blocks\.(\d+)\.", RegexOptions.CultureInvariant);

    /// <summary>The lvdm name of a diffusers VAE key, or null when the key is not a VAE tensor name.
    /// <paramref name="decoderLevels"/> (= len(block_out_channels)) is needed to reverse the decoder levels.</summary>
    public static string? ToLvdm(string key, int decoderLevels)
    {
        Match m;
        if ((m = Plain.Match(key)).Success) return key;
        if ((m = NormOut.Match(key)).Success) return $"{m.Groups[1].Value}.norm_out.{m.Groups[2].Value}";
        if ((m = Resnet.Match(key)).Success)
        {
            string part = m.Groups[1].Value, level = Level(part, m.Groups[3].Value, decoderLevels, key);
            string layer = m.Groups[5].Value == "conv_shortcut" ? "nin_shortcut" : m.Groups[5].Value;
            return $"{part}.{m.Groups[2].Value}.{level}.block.{m.Groups[4].Value}.{layer}.{m.Groups[6].Value}";
        }
        if ((m = Resample.Match(key)).Success)
        {
            bool enc = m.Groups[1].Value.StartsWith("encoder", StringComparison.Ordinal);
            string level = Level(enc ? "encoder" : "decoder", m.Groups[2].Value, decoderLevels, key);
            return enc ? $"encoder.down.{level}.downsample.conv.{m.Groups[4].Value}" : $"decoder.up.{level}.upsample.conv.{m.Groups[4].Value}";
        }
        if ((m = MidResnet.Match(key)).Success)
        {
            string layer = m.Groups[3].Value == "conv_shortcut" ? "nin_shortcut" : m.Groups[3].Value;
            return $"{m.Groups[1].Value}.mid.block_{int.Parse(m.Groups[2].Value) + 1}.{layer}.{m.Groups[4].Value}";
        }
        if ((m = MidAttention.Match(key)).Success)
        {
            string layer = m.Groups[2].Value switch
            {
                "group_norm" => "norm",
                "to_q" or "query" => "q",
                "to_k" or "key" => "k",
                "to_v" or "value" => "v",
                _ => "proj_out",   // to_out.0, proj_attn
            };
            return $"{m.Groups[1].Value}.mid.attn_1.{layer}.{m.Groups[3].Value}";
        }
        return null;
    }

    /// <summary>True for the attention projections whose Linear [C, C] weight is a 1×1 Conv2d [C, C, 1, 1] in lvdm.</summary>
    public static bool IsAttentionProjectionWeight(string lvdmKey) =>
        lvdmKey.Contains(".mid.attn_1.", StringComparison.Ordinal) && lvdmKey.EndsWith(".weight", StringComparison.Ordinal)
        && !lvdmKey.EndsWith(".norm.weight", StringComparison.Ordinal);

    /// <summary>Number of decoder levels in a diffusers VAE state dict: 1 + the largest <c>decoder.up_blocks.N</c> (0 if none).</summary>
    public static int CountDecoderLevels(IEnumerable<string> keys) =>
        keys.Select(k => UpBlockIndex.Match(k)).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value) + 1).DefaultIfEmpty(0).Max();

    private static string Level(string part, string index, int levels, string key)
    {
        int i = int.Parse(index);
        if (part == "encoder") return index;
        if (i >= levels) throw new ArgumentException($"diffusers VAE key '{key}': decoder level {i} does not exist in a VAE with {levels} levels");
        return (levels - 1 - i).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// A diffusers <c>AutoencoderKL</c> checkpoint presented under lvdm names (<see cref="DiffusersVaeKeys"/>), so that
/// <c>new KlAutoencoder(cfg).LoadFrom(new DiffusersVaeSource(file), "")</c> loads it strictly. Attention projection
/// weights are reshaped [C, C] → [C, C, 1, 1]. Keys that are not VAE names pass through unchanged (a strict load then
/// reports them as unexpected under their own name). Accepts both the current and the legacy attention names, but not
/// both for one tensor.
/// </summary>
public sealed class DiffusersVaeSource : ICheckpointSource
{
    private readonly ICheckpointSource inner;
    private readonly bool ownsInner;
    private readonly Dictionary<string, string> toInner = new(StringComparer.Ordinal);   // lvdm name → inner key
    private readonly List<string> keys = [];

    /// <param name="inner">The diffusers state dict (keys with <paramref name="prefix"/>).</param>
    /// <param name="decoderLevels">len(block_out_channels); null: counted from the <c>decoder.up_blocks.N</c> keys.</param>
    /// <param name="prefix">Prefix of the VAE keys inside <paramref name="inner"/> ("" for a vae/ folder file); keys
    /// outside it are hidden.</param>
    /// <param name="ownsInner">Dispose <paramref name="inner"/> with this source.</param>
    public DiffusersVaeSource(ICheckpointSource inner, int? decoderLevels = null, string prefix = "", bool ownsInner = false)
    {
        this.inner = inner;
        this.ownsInner = ownsInner;
        var vaeKeys = inner.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        int counted = DiffusersVaeKeys.CountDecoderLevels(vaeKeys.Select(k => k[prefix.Length..]));
        int levels = decoderLevels ?? counted;
        if (levels < counted)
            throw new ArgumentException($"{inner.Path}: the checkpoint has decoder.up_blocks.{counted - 1} but the config has {levels} decoder levels");
        foreach (var full in vaeKeys)
        {
            string name = full[prefix.Length..];
            string mapped = DiffusersVaeKeys.ToLvdm(name, levels) ?? name;
            if (toInner.TryGetValue(mapped, out var other))
                throw new InvalidDataException($"{inner.Path}: '{other}' and '{full}' are the same VAE tensor ({mapped}); " +
                                               "the file mixes the legacy and current diffusers attention names");
            toInner[mapped] = full;
            keys.Add(mapped);
        }
    }

    public string Path => inner.Path + " (diffusers VAE names as lvdm)";
    public IEnumerable<string> Keys => keys;
    public bool Contains(string key) => toInner.ContainsKey(key);
    public ScalarType DType(string key) => inner.DType(Inner(key));

    public long[] Shape(string key)
    {
        var s = inner.Shape(Inner(key));
        return NeedsConvShape(key, s) ? [s[0], s[1], 1, 1] : s;
    }

    public Tensor Load(string key, ScalarType? dtype = null, Device? device = null)
    {
        string from = Inner(key);
        var t = inner.Load(from, dtype, device);
        if (!NeedsConvShape(key, t.shape)) return t;
        using (t) return t.reshape(t.shape[0], t.shape[1], 1, 1);   // Linear [C, C] → 1×1 Conv2d [C, C, 1, 1]
    }

    /// <summary>The inner (diffusers) key a presented (lvdm) key comes from.</summary>
    public string Inner(string key) =>
        toInner.TryGetValue(key, out var k) ? k : throw new KeyNotFoundException($"{Path}: no tensor named '{key}'");

    private static bool NeedsConvShape(string key, long[] shape) => shape.Length == 2 && DiffusersVaeKeys.IsAttentionProjectionWeight(key);

    public void Dispose()
    {
        if (ownsInner) inner.Dispose();
    }
}
