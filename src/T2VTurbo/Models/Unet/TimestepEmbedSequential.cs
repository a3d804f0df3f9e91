using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>What every layer of a UNet stage may need besides the activations.</summary>
/// <param name="Emb">timestep(+fps, +w) embedding per frame, [(B·T), 4·model_channels].</param>
/// <param name="Context">text context per video, [B, L, context_dim] (spatial attention shares it across frames).</param>
/// <param name="Batch">B, to regroup the (B·T) frames into videos for the temporal layers.</param>
public sealed record FrameConditioning(Tensor Emb, Tensor Context, long Batch);

/// <summary>lvdm TimestepEmbedSequential: runs its children in order, giving each what it takes — ResBlock the
/// embedding, SpatialTransformer the context, TemporalTransformer the video grouping, others just x. Children are
/// registered as "0", "1", ... like nn.Sequential, so keys read input_blocks.1.0.in_layers.0.weight.</summary>
public sealed class TimestepEmbedSequential : nn.Module
{
    private readonly nn.Module[] layers;

    public TimestepEmbedSequential(params nn.Module[] layers) : base(nameof(TimestepEmbedSequential))
    {
        this.layers = layers;
        for (int i = 0; i < layers.Length; i++) register_module(i.ToString(), layers[i]);
    }

    public IReadOnlyList<nn.Module> Layers => layers;

    /// <summary>x: [(B·T), C, h, w] → [(B·T), C', h', w']. observe (optional) sees each child's output as
    /// "{name}_{kind}_out" (kind: resblock, spatial_transformer, temporal_transformer, downsample, upsample, conv; a
    /// repeated kind gets "_1", "_2", ...) and a ResBlock's temporal-conv input as "{name}_{kind}_pre_temporal_conv".
    /// The observed tensors are freed after the call: clone what you keep.</summary>
    public Tensor Forward(Tensor x, FrameConditioning c, Action<string, Tensor>? observe = null, string name = "")
    {
        using var scope = torch.NewDisposeScope();
        var seen = new Dictionary<string, int>();
        foreach (var layer in layers)
        {
            string kind = Kind(layer);
            int n = seen.GetValueOrDefault(kind);
            seen[kind] = n + 1;
            string label = n == 0 ? $"{name}_{kind}" : $"{name}_{kind}_{n}";
            x = layer switch
            {
                ResBlock r => r.Forward(x, c.Emb, c.Batch, observe is null ? null : t => observe($"{label}_pre_temporal_conv", t)),
                SpatialTransformer s => s.forward(x, c.Context),
                TemporalTransformer t => t.ForwardFrames(x, c.Batch),
                nn.Module<Tensor, Tensor> m => m.call(x),
                _ => throw new InvalidOperationException($"{name}: layer {layer.GetType().Name} has no known call"),
            };
            observe?.Invoke($"{label}_out", x);
        }
        return x.MoveToOuterDisposeScope();
    }

    private static string Kind(nn.Module layer) => layer switch
    {
        ResBlock => "resblock",
        SpatialTransformer => "spatial_transformer",
        TemporalTransformer => "temporal_transformer",
        Downsample => "downsample",
        Upsample => "upsample",
        _ => "conv",
    };
}
