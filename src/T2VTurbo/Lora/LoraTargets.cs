using TorchSharp;
using T2VTurbo.Models.Unet;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Lora;

/// <summary>The layers cloneofsimo's `inject_trainable_lora_extended` wraps (spec §3.2): every descendant whose class
/// is exactly Linear, Conv2d or Conv3d (not Conv1d, norms, embeddings), in `named_modules()` order — the order of
/// the official unet_lora.pt list, which has no names.</summary>
public static class LoraTargets
{
    public sealed record Target(string Name, nn.Module Module, long In, long Out, long[] WeightShape)
    {
        public string Kind => Module switch { Linear => "Linear", Conv2d => "Conv2d", Conv3d => "Conv3d", _ => "?" };
        /// <summary>Rank actually used: the requested rank capped at the layer's width (spec §3.2).</summary>
        public long RankFor(long requested) => Math.Min(requested, Math.Min(In, Out));
        public long[] UpShape(long r) => Module is Linear ? new[] { Out, r } : new[] { Out, r }.Concat(Enumerable.Repeat(1L, WeightShape.Length - 2)).ToArray();
        public long[] DownShape(long r) => new[] { r }.Concat(WeightShape.Skip(1)).ToArray();
    }

    public static IReadOnlyList<Target> Find(nn.Module root)
    {
        var list = new List<Target>();
        foreach (var (name, m) in root.NamedModulesPreOrder())
        {
            if (m is Linear or Conv2d or Conv3d)
            {
                var w = ((Tensor)m.get_parameter("weight")!).shape;
                list.Add(new Target(name, m, w[1], w[0], w));
            }
        }
        return list;
    }
}
