using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>VideoCrafter2's 3-D UNet (lvdm.modules.networks.openaimodel3d.UNetModel) with T2V-Turbo's guidance
/// (time_cond_proj) and v2 motion (motion_cond_proj, combine_proj) conditioning; spec §1.5. Fields are declared in the
/// reference's registration order, so state_dict() keys and their order equal the checkpoint's (prefix
/// "model.diffusion_model." in VC2's model.ckpt, none in T2V-Turbo's unet_mg.pt). Like any torch module it starts in
/// training mode: call eval() for inference (the temporal convs hold Dropout(0.1)).</summary>
public sealed class Unet3D : nn.Module
{
    private readonly Sequential time_embed;
    private readonly Sequential? fps_embedding;
    private readonly Linear? time_cond_proj;
    private readonly Linear? motion_cond_proj;
    private readonly Linear? combine_proj;
    private readonly ModuleList<TimestepEmbedSequential> input_blocks;
    private readonly TimestepEmbedSequential? init_attn;
    private readonly TimestepEmbedSequential middle_block;
    private readonly ModuleList<TimestepEmbedSequential> output_blocks;
    private readonly Sequential @out;

    public UnetConfig Config { get; }

    /// <summary>Runs one UNet block given its inputs [h, emb, context]; see <see cref="BlockRunner"/>.</summary>
    public delegate Tensor BlockCall(Func<Tensor[], Tensor> block, Tensor[] inputs);

    /// <summary>Wraps every input, middle and output block call when set (training: activation checkpointing, e.g.
    /// T2VTurbo.Training.GradientCheckpoint.Run — the reference's use_checkpoint). Wrapped blocks get no observe
    /// callback. Null = plain calls.</summary>
    public BlockCall? BlockRunner { get; set; }

    /// <summary>The default fps when none is given (the reference's `fps=16`).</summary>
    public const long DefaultFps = 16;

    public static Unet3D FromConfig(JsonObject config, Device? device = null, ScalarType? dtype = null) =>
        new(UnetConfig.FromJson(config), device, dtype);

    /// <param name="device">where the parameters are created (torch.META builds the full model without memory).</param>
    /// <param name="dtype">parameter dtype (default float32); the forward computes in the parameters' dtype.</param>
    public Unet3D(UnetConfig config, Device? device = null, ScalarType? dtype = null) : base(nameof(Unet3D))
    {
        config.Validate();
        Config = config;
        var cfg = config;   // short name for the many reads below
        long mc = cfg.model_channels, embDim = mc * 4;

        time_embed = EmbeddingMlp(mc, embDim, device, dtype);
        if (cfg.fps_cond) fps_embedding = EmbeddingMlp(mc, embDim, device, dtype);
        if (cfg.time_cond_proj_dim is long w) time_cond_proj = nn.Linear(w, mc, hasBias: false, device: device, dtype: dtype);
        if (cfg.motion_cond_proj_dim is long m)
        {
            motion_cond_proj = nn.Linear(m, mc, hasBias: false, device: device, dtype: dtype);
            combine_proj = nn.Linear(2 * mc, mc, hasBias: false, device: device, dtype: dtype);
        }

        (long heads, long dHead) Heads(long ch) => cfg.num_head_channels == -1 ? (cfg.num_heads, ch / cfg.num_heads) : (ch / cfg.num_head_channels, cfg.num_head_channels);
        nn.Module[] Attention(long ch)
        {
            var (heads, dHead) = Heads(ch);
            var spatial = new SpatialTransformer(ch, heads, dHead, cfg.transformer_depth, cfg.context_dim, cfg.use_linear, cfg.dropout, device, dtype);
            return cfg.temporal_attention
                ? [spatial, new TemporalTransformer(ch, heads, dHead, cfg.temporal_transformer_depth, cfg.use_linear, cfg.dropout, device, dtype)]
                : [spatial];
        }
        ResBlock Res(long inCh, long? outCh) => new(inCh, embDim, cfg.dropout, outCh, cfg.temporal_conv, device, dtype);

        var inputs = new List<TimestepEmbedSequential> { new(nn.Conv2d(cfg.in_channels, mc, 3, padding: 1, device: device, dtype: dtype)) };
        var skipChannels = new Stack<long>([mc]);
        long chNow = mc, ds = 1;
        for (int level = 0; level < cfg.channel_mult.Length; level++)
        {
            for (int r = 0; r < cfg.num_res_blocks; r++)
            {
                var layers = new List<nn.Module> { Res(chNow, cfg.channel_mult[level] * mc) };
                chNow = cfg.channel_mult[level] * mc;
                if (cfg.attention_resolutions.Contains(ds)) layers.AddRange(Attention(chNow));
                inputs.Add(new TimestepEmbedSequential([.. layers]));
                skipChannels.Push(chNow);
            }
            if (level != cfg.channel_mult.Length - 1)
            {
                inputs.Add(new TimestepEmbedSequential(new Downsample(chNow, chNow, device, dtype)));
                skipChannels.Push(chNow);
                ds *= 2;
            }
        }
        input_blocks = nn.ModuleList([.. inputs]);

        // init_attn: 8 heads of num_head_channels, depth transformer_depth, and use_linear NOT passed → Conv1d projections.
        if (cfg.addition_attention)
            init_attn = new TimestepEmbedSequential(new TemporalTransformer(mc, 8, cfg.num_head_channels, cfg.transformer_depth, false, cfg.dropout, device, dtype));

        middle_block = new TimestepEmbedSequential([Res(chNow, null), .. Attention(chNow), Res(chNow, null)]);

        var outputs = new List<TimestepEmbedSequential>();
        for (int level = cfg.channel_mult.Length - 1; level >= 0; level--)
        {
            for (int i = 0; i <= cfg.num_res_blocks; i++)
            {
                long skipCh = skipChannels.Pop();
                var layers = new List<nn.Module> { Res(chNow + skipCh, cfg.channel_mult[level] * mc) };
                chNow = cfg.channel_mult[level] * mc;
                if (cfg.attention_resolutions.Contains(ds)) layers.AddRange(Attention(chNow));
                if (level > 0 && i == cfg.num_res_blocks)
                {
                    layers.Add(new Upsample(chNow, chNow, device, dtype));
                    ds /= 2;
                }
                outputs.Add(new TimestepEmbedSequential([.. layers]));
            }
        }
        output_blocks = nn.ModuleList([.. outputs]);

        @out = nn.Sequential(new GroupNorm32(32, chNow, 1e-5, device, dtype), nn.SiLU(),
            nn.Conv2d(mc, cfg.out_channels, 3, padding: 1, device: device, dtype: dtype));
        RegisterComponents();
    }

    private static Sequential EmbeddingMlp(long mc, long embDim, Device? device, ScalarType? dtype) =>
        nn.Sequential(nn.Linear(mc, embDim, device: device, dtype: dtype), nn.SiLU(), nn.Linear(embDim, embDim, device: device, dtype: dtype));

    /// <summary>dtype and device of the parameters: the forward computes there.</summary>
    private (ScalarType dtype, Device device) Placement
    {
        get
        {
            var p = time_embed.parameters().First();
            return (p.dtype, p.device);
        }
    }

    /// <summary>Predicts the noise ε. x: [B, in_channels, T, h, w]; timesteps: [B] (int64 or float; a single value is
    /// used for the whole batch); context: [B, L, context_dim]; fps: [B] or one value, null = 16 (ignored without
    /// fps_cond); timestepCond: [B, time_cond_proj_dim] guidance-w embedding (T2V-Turbo); motionCond:
    /// [B, motion_cond_proj_dim] motion embedding (v2, needs timestepCond). observe (optional) sees named intermediates,
    /// e.g. "emb", "input_block_0_out", "init_attn_out", "middle_block_out"; clone what you keep.
    /// Inputs are moved to the parameters' device and dtype. → [B, out_channels, T, h, w] in x's dtype, on the
    /// parameters' device.</summary>
    public Tensor forward(Tensor x, Tensor timesteps, Tensor context, Tensor? fps = null, Tensor? timestepCond = null,
        Tensor? motionCond = null, Action<string, Tensor>? observe = null)
    {
        if (x.dim() != 5 || x.shape[1] != Config.in_channels)
            throw new ArgumentException($"Unet3D: x must be [B, {Config.in_channels}, T, h, w], got [{string.Join(",", x.shape)}]");
        var (b, c, t, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4]);
        if (context.dim() != 3 || context.shape[0] != b || context.shape[2] != Config.context_dim)
            throw new ArgumentException($"Unet3D: context must be [{b}, L, {Config.context_dim}], got [{string.Join(",", context.shape)}]");
        long levels = Config.channel_mult.Length - 1;
        if (h % (1L << (int)levels) != 0 || w % (1L << (int)levels) != 0)
            throw new ArgumentException($"Unet3D: latent size {h}x{w} must be divisible by {1L << (int)levels} ({levels} downsamplings)");

        using var scope = torch.NewDisposeScope();
        var (dtype, device) = Placement;
        var emb = Embed(timesteps, b, fps, timestepCond, motionCond, observe);         // [B, E]
        var cond = new FrameConditioning(emb.repeat_interleave(t, 0), context.to(dtype, device), b); // emb: [(B·T), E]
        var hCur = x.to(dtype, device).permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w);  // [(B·T), C, h, w], frame fastest

        var skips = new Stack<Tensor>();
        for (int i = 0; i < input_blocks.Count; i++)
        {
            hCur = RunBlock(input_blocks[i], hCur, cond, observe, $"input_block_{i}");
            observe?.Invoke($"input_block_{i}_out", hCur);
            if (i == 0 && init_attn is not null)
            {
                var attended = init_attn.Forward(hCur, cond, observe, "init_attn");
                hCur.Dispose();
                hCur = attended;
                observe?.Invoke("init_attn_out", hCur);
            }
            skips.Push(hCur);
        }
        hCur = RunBlock(middle_block, hCur, cond, observe, "middle_block");
        observe?.Invoke("middle_block_out", hCur);
        for (int i = 0; i < output_blocks.Count; i++)
        {
            var skip = skips.Pop();
            var joined = torch.cat([hCur, skip], 1);                                   // [(B·T), C + C_skip, h', w']
            hCur.Dispose();
            skip.Dispose();
            hCur = RunBlock(output_blocks[i], joined, cond, observe, $"output_block_{i}");
            joined.Dispose();
            observe?.Invoke($"output_block_{i}_out", hCur);
        }
        var y = @out.call(hCur);                                                    // [(B·T), out, h, w]
        y = y.view(b, t, y.shape[1], h, w).permute(0, 2, 1, 3, 4).contiguous().to(x.dtype); // [B, out, T, h, w]
        return y.MoveToOuterDisposeScope();
    }

    private Tensor RunBlock(TimestepEmbedSequential block, Tensor h, FrameConditioning cond, Action<string, Tensor>? observe, string name)
    {
        if (BlockRunner is null) return block.Forward(h, cond, observe, name);
        return BlockRunner(inputs => block.Forward(inputs[0], new FrameConditioning(inputs[1], inputs[2], cond.Batch), null, name),
            [h, cond.Emb, cond.Context]);
    }

    /// <summary>fps given as a plain number, like the reference's Python int.</summary>
    public Tensor forward(Tensor x, Tensor timesteps, Tensor context, long fps, Tensor? timestepCond = null,
        Tensor? motionCond = null, Action<string, Tensor>? observe = null)
    {
        using var fpsTensor = torch.tensor(fps, device: x.device);
        return forward(x, timesteps, context, fpsTensor, timestepCond, motionCond, observe);
    }

    /// <summary>The conditioning vector, spec §1.5 steps 1-4: emb = time_embed(sinusoid(t) + c) + fps_embedding(
    /// sinusoid(fps)), with c = 0, time_cond_proj(w_emb), or combine_proj([time_cond_proj(w_emb),
    /// motion_cond_proj(m_emb)]) — the combination replaces c, it is not added. Sinusoids are float32, then cast to
    /// the parameters' dtype. → [B, 4·model_channels].</summary>
    public Tensor Embed(Tensor timesteps, long batch, Tensor? fps = null, Tensor? timestepCond = null, Tensor? motionCond = null,
        Action<string, Tensor>? observe = null)
    {
        using var scope = torch.NewDisposeScope();
        var (dtype, device) = Placement;
        long mc = Config.model_channels;
        var tEmb = TimestepEmbedding.Sinusoid(PerSample(timesteps, batch, "timesteps").to(device), mc).to(dtype); // [B, mc]
        observe?.Invoke("t_emb_sinusoid", tEmb);

        Tensor? c = null;
        if (timestepCond is not null)
        {
            if (time_cond_proj is null) throw new ArgumentException("Unet3D: timestepCond given but the model has no time_cond_proj (time_cond_proj_dim is null)");
            CheckCond(timestepCond, batch, Config.time_cond_proj_dim!.Value, "timestepCond");
            c = time_cond_proj.call(timestepCond.to(dtype, device));              // [B, mc]
            observe?.Invoke("time_cond_proj_out", c);
        }
        if (motionCond is not null)
        {
            if (motion_cond_proj is null || combine_proj is null) throw new ArgumentException("Unet3D: motionCond given but the model has no motion_cond_proj (motion_cond_proj_dim is null)");
            if (c is null) throw new ArgumentException("Unet3D: motionCond needs timestepCond (combine_proj mixes both)");
            CheckCond(motionCond, batch, Config.motion_cond_proj_dim!.Value, "motionCond");
            var m = motion_cond_proj.call(motionCond.to(dtype, device));          // [B, mc]
            observe?.Invoke("motion_cond_proj_out", m);
            c = combine_proj.call(torch.cat([c, m], 1));                           // [B, mc]
            observe?.Invoke("combine_proj_out", c);
        }
        var embIn = c is null ? tEmb : tEmb + c;
        observe?.Invoke("time_embed_in", embIn);
        var emb = time_embed.call(embIn);                                           // [B, 4·mc]
        observe?.Invoke("time_embed_out", emb);

        if (fps_embedding is not null)
        {
            var fpsValues = fps is null ? torch.full(batch, DefaultFps, dtype: ScalarType.Int64, device: device) : PerSample(fps, batch, "fps").to(device);
            var fpsEmb = TimestepEmbedding.Sinusoid(fpsValues, mc).to(dtype);
            observe?.Invoke("fps_emb_sinusoid", fpsEmb);
            var fpsOut = fps_embedding.call(fpsEmb);
            observe?.Invoke("fps_embedding_out", fpsOut);
            emb = emb + fpsOut;
        }
        observe?.Invoke("emb", emb);
        return emb.MoveToOuterDisposeScope();
    }

    /// <summary>[B] as given, or one value (0-d or [1]) expanded to [B].</summary>
    private static Tensor PerSample(Tensor v, long batch, string name)
    {
        if (v.dim() == 1 && v.shape[0] == batch) return v;
        if (v.numel() == 1) return v.reshape(1).expand(batch);
        throw new ArgumentException($"Unet3D: {name} must be [{batch}] or a single value, got [{string.Join(",", v.shape)}]");
    }

    private static void CheckCond(Tensor v, long batch, long dim, string name)
    {
        if (v.dim() != 2 || v.shape[0] != batch || v.shape[1] != dim)
            throw new ArgumentException($"Unet3D: {name} must be [{batch}, {dim}], got [{string.Join(",", v.shape)}]");
    }
}
