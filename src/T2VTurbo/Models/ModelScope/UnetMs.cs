using System.Text.Json.Nodes;
using T2VTurbo.Models.Unet;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.ModelScope;

/// <summary>The ModelScope T2V 3-D UNet as T2V-Turbo (MS) uses it: the t2v-turbo repo's
/// model_scope/unet_3d_condition.py UNet3DConditionModel on diffusers 0.27.2 blocks (spec §1.6). The teacher has
/// time_cond_proj_dim null; the student adds time_embedding.cond_proj (guidance-w embedding). Fields are declared in
/// the reference's registration order — conv_in, time_embedding, transformer_in, down_blocks, up_blocks, mid_block,
/// conv_norm_out, conv_out (up_blocks before mid_block!) — so state_dict() keys equal the diffusers checkpoint's and
/// the module walk gives the released LoRA order. Starts in training mode: call eval() (temporal convs hold Dropout 0.1).</summary>
public sealed class UnetMs : nn.Module
{
    private readonly Conv2d conv_in;
    private readonly TimestepEmbeddingMlp time_embedding;
    private readonly TransformerTemporalModel transformer_in;
    private readonly ModuleList<DownBlock3D> down_blocks;
    private readonly ModuleList<UpBlock3D> up_blocks;
    private readonly UNetMidBlock3DCrossAttn mid_block;
    private readonly GroupNorm32 conv_norm_out;
    private readonly Conv2d conv_out;

    public UnetMsConfig Config { get; }

    public static UnetMs FromConfig(JsonObject config, Device? device = null, ScalarType? dtype = null) =>
        new(UnetMsConfig.FromJson(config), device, dtype);

    /// <param name="device">where the parameters are created (torch.META builds the full model without memory).</param>
    /// <param name="dtype">parameter dtype (default float32); the forward computes in the parameters' dtype.</param>
    public UnetMs(UnetMsConfig config, Device? device = null, ScalarType? dtype = null) : base(nameof(UnetMs))
    {
        config.Validate();
        Config = config;
        var cfg = config;
        var channels = cfg.block_out_channels;
        int n = channels.Length;
        long c0 = channels[0], embDim = cfg.TimeEmbedDim, groups = cfg.norm_num_groups, hd = cfg.attention_head_dim;
        double eps = cfg.norm_eps;

        conv_in = nn.Conv2d(cfg.in_channels, c0, 3, padding: 1, device: device, dtype: dtype);
        time_embedding = new TimestepEmbeddingMlp(c0, embDim, cfg.time_cond_proj_dim, device, dtype);
        // 8 heads of attention_head_dim (inner 512 ≠ 320 in the real model); GroupNorm keeps diffusers' default 32 groups.
        transformer_in = new TransformerTemporalModel(8, hd, c0, 32, device, dtype);

        var downs = new List<DownBlock3D>();
        long outCh = c0;
        for (int i = 0; i < n; i++)
        {
            long inCh = outCh;
            outCh = channels[i];
            downs.Add(new DownBlock3D(cfg.down_block_types[i] == UnetMsConfig.CrossAttnDownBlock3D, cfg.layers_per_block, inCh, outCh, embDim,
                addDownsample: i != n - 1, groups, eps, hd, cfg.cross_attention_dim, cfg.downsample_padding, device, dtype));
        }
        down_blocks = nn.ModuleList([.. downs]);

        mid_block = new UNetMidBlock3DCrossAttn(channels[^1], embDim, groups, eps, cfg.mid_block_scale_factor, hd, cfg.cross_attention_dim,
            device: device, dtype: dtype);

        var reversed = channels.Reverse().ToArray();
        var ups = new List<UpBlock3D>();
        outCh = reversed[0];
        for (int i = 0; i < n; i++)
        {
            long prevOut = outCh;
            outCh = reversed[i];
            long inCh = reversed[Math.Min(i + 1, n - 1)];
            ups.Add(new UpBlock3D(cfg.up_block_types[i] == UnetMsConfig.CrossAttnUpBlock3D, cfg.layers_per_block + 1, inCh, outCh, prevOut, embDim,
                addUpsample: i != n - 1, groups, eps, hd, cfg.cross_attention_dim, device, dtype));
        }
        up_blocks = nn.ModuleList([.. ups]);
        NumUpsamplers = n - 1;

        conv_norm_out = new GroupNorm32(groups, c0, eps, device, dtype);
        conv_out = nn.Conv2d(c0, cfg.out_channels, 3, padding: 1, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>Upsampling blocks; latents whose h or w is not a multiple of 2^this get forced upsample sizes.</summary>
    public int NumUpsamplers { get; }

    public bool HasCondProj => time_embedding.HasCondProj;

    private (ScalarType dtype, Device device) Placement => (conv_in.weight!.dtype, conv_in.weight.device);

    /// <summary>Predicts the noise ε. x: [B, in_channels, T, h, w]; timesteps: [B] or one value (int64 or float);
    /// encoderHiddenStates: [B, L, cross_attention_dim]; timestepCond: [B, time_cond_proj_dim] guidance-w embedding
    /// (student only; null = the teacher's result). observe (optional) sees named intermediates: t_emb_sinusoid,
    /// cond_proj_out, time_embedding_out, conv_in_out, transformer_in_out, down_block_{i}_out, mid_block_out,
    /// up_block_{i}_out, conv_norm_out_out (frames as [(B·T), C, h, w], frame fastest); clone what you keep.
    /// Inputs move to the parameters' device and dtype → [B, out_channels, T, h, w] in x's dtype.</summary>
    public Tensor forward(Tensor x, Tensor timesteps, Tensor encoderHiddenStates, Tensor? timestepCond = null,
        Action<string, Tensor>? observe = null)
    {
        if (x.dim() != 5 || x.shape[1] != Config.in_channels)
            throw new ArgumentException($"UnetMs: x must be [B, {Config.in_channels}, T, h, w], got [{string.Join(",", x.shape)}]");
        var (b, c, t, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4]);
        if (t < 1 || h < 1 || w < 1) throw new ArgumentException($"UnetMs: x has an empty dimension: [{string.Join(",", x.shape)}]");
        if (encoderHiddenStates.dim() != 3 || encoderHiddenStates.shape[0] != b || encoderHiddenStates.shape[2] != Config.cross_attention_dim)
            throw new ArgumentException($"UnetMs: encoderHiddenStates must be [{b}, L, {Config.cross_attention_dim}], got [{string.Join(",", encoderHiddenStates.shape)}]");

        using var scope = torch.NewDisposeScope();
        var (dtype, device) = Placement;
        var emb = Embed(timesteps, b, timestepCond, observe);                         // [B, E]
        var cond = new VideoConditioning(emb.repeat_interleave(t, 0), encoderHiddenStates.to(dtype, device), t); // Emb: [(B·T), E]
        long upFactor = 1L << NumUpsamplers;
        bool forceUpsampleSize = h % upFactor != 0 || w % upFactor != 0;

        var hCur = x.to(dtype, device).permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w); // [(B·T), C, h, w], frame fastest
        hCur = conv_in.call(hCur);
        observe?.Invoke("conv_in_out", hCur);
        if (t > 1)
        {
            hCur = transformer_in.call(hCur, t);
            observe?.Invoke("transformer_in_out", hCur);
        }

        var skips = new List<Tensor> { hCur };
        for (int i = 0; i < down_blocks.Count; i++)
        {
            (hCur, var res) = down_blocks[i].Forward(hCur, cond);
            skips.AddRange(res);
            observe?.Invoke($"down_block_{i}_out", hCur);
        }
        hCur = mid_block.Forward(hCur, cond);
        observe?.Invoke("mid_block_out", hCur);

        long[]? upsampleSize = null;
        for (int i = 0; i < up_blocks.Count; i++)
        {
            int k = up_blocks[i].NumSkips;
            var res = skips.GetRange(skips.Count - k, k);
            skips.RemoveRange(skips.Count - k, k);
            // Not divisible by 2^upsamplers: upsample to the exact size of the next skip instead of ×2.
            if (i != up_blocks.Count - 1 && forceUpsampleSize) upsampleSize = [skips[^1].shape[2], skips[^1].shape[3]];
            var next = up_blocks[i].Forward(hCur, res, cond, upsampleSize);
            hCur.Dispose();                                                            // each skip and each block input is used once
            foreach (var skip in res) skip.Dispose();
            hCur = next;
            observe?.Invoke($"up_block_{i}_out", hCur);
        }

        hCur = conv_norm_out.call(hCur);
        observe?.Invoke("conv_norm_out_out", hCur);
        var y = conv_out.call(nn.functional.silu(hCur));                                // [(B·T), out, h, w]
        y = y.view(b, t, y.shape[1], h, w).permute(0, 2, 1, 3, 4).contiguous().to(x.dtype); // [B, out, T, h, w]
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>The timestep as a plain number (the reference's Python int: a 1-element int64 tensor expanded to B).</summary>
    public Tensor forward(Tensor x, long timestep, Tensor encoderHiddenStates, Tensor? timestepCond = null,
        Action<string, Tensor>? observe = null)
    {
        using var ts = torch.tensor(new[] { timestep }, dtype: ScalarType.Int64);
        return forward(x, ts, encoderHiddenStates, timestepCond, observe);
    }

    /// <summary>The time embedding the blocks receive (before the per-frame repeat): t_emb = [cos, sin] sinusoid of
    /// the timesteps (flip_sin_to_cos, shift 0; float32, then the parameters' dtype), then time_embedding(t_emb,
    /// timestepCond). timesteps: [B] or one value → [B, 4·C0].</summary>
    public Tensor Embed(Tensor timesteps, long batch, Tensor? timestepCond = null, Action<string, Tensor>? observe = null)
    {
        using var scope = torch.NewDisposeScope();
        var (dtype, device) = Placement;
        Tensor perSample;
        if (timesteps.dim() == 1 && timesteps.shape[0] == batch) perSample = timesteps;
        else if (timesteps.numel() == 1 && timesteps.dim() <= 1) perSample = timesteps.reshape(1).expand(batch);
        else throw new ArgumentException($"UnetMs: timesteps must be [{batch}] or a single value, got [{string.Join(",", timesteps.shape)}]");

        var tEmb = TimestepEmbedding.Sinusoid(perSample.to(device), Config.block_out_channels[0]).to(dtype); // [B, C0]
        observe?.Invoke("t_emb_sinusoid", tEmb);
        Tensor? condIn = null;
        if (timestepCond is not null)
        {
            if (Config.time_cond_proj_dim is long dim && (timestepCond.dim() != 2 || timestepCond.shape[0] != batch || timestepCond.shape[1] != dim))
                throw new ArgumentException($"UnetMs: timestepCond must be [{batch}, {dim}], got [{string.Join(",", timestepCond.shape)}]");
            condIn = timestepCond.to(dtype, device);
        }
        var emb = time_embedding.forward(tEmb, condIn, observe);                      // [B, 4·C0]
        observe?.Invoke("time_embedding_out", emb);
        return emb.MoveToOuterDisposeScope();
    }
}
