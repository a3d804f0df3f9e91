using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Models;

/// <summary>One resolution level of the lvdm VAE encoder (an anonymous nn.Module in the reference): num_res_blocks
/// ResnetBlocks, each followed by an AttnBlock when the level is in attn_resolutions, then a Downsample except at
/// the deepest level.</summary>
public sealed class VaeEncoderLevel : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<VaeResnetBlock> block;   // keys: block.N.*
    private readonly ModuleList<VaeAttnBlock> attn;      // keys: attn.N.* (empty unless attention at this level)
    private readonly VaeDownsample? downsample;          // keys: downsample.conv.*

    public VaeEncoderLevel(IEnumerable<VaeResnetBlock> blocks, IEnumerable<VaeAttnBlock> attns, VaeDownsample? downsample)
        : base(nameof(VaeEncoderLevel))
    {
        block = new ModuleList<VaeResnetBlock>(blocks.ToArray());
        attn = new ModuleList<VaeAttnBlock>(attns.ToArray());
        this.downsample = downsample;
        RegisterComponents();
    }

    /// <summary>[N, Cin, H, W] → [N, Cout, H/2, W/2] (no halving at the deepest level).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = x;
        for (int i = 0; i < block.Count; i++)
        {
            h = block[i].forward(h);
            if (attn.Count > 0) h = attn[i].forward(h);
        }
        if (downsample is not null) h = downsample.forward(h);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>lvdm ae_modules Encoder: conv_in → down levels → mid → norm_out → swish → conv_out
/// (2·z_channels outputs when double_z: mean and log-variance).</summary>
public sealed class VaeEncoder : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv_in;                     // keys: conv_in.*
    private readonly ModuleList<VaeEncoderLevel> down;   // keys: down.N.*
    private readonly VaeMidBlock mid;                    // keys: mid.*
    private readonly GroupNorm norm_out;                 // keys: norm_out.*
    private readonly Conv2d conv_out;                    // keys: conv_out.*

    public VaeEncoder(AutoencoderConfig cfg) : base(nameof(VaeEncoder))
    {
        conv_in = nn.Conv2d(cfg.in_channels, cfg.ch, 3, padding: 1);
        var levels = new List<VaeEncoderLevel>();
        int blockIn = cfg.ch, currentRes = cfg.resolution;
        for (int level = 0; level < cfg.NumResolutions; level++)
        {
            int blockOut = cfg.ch * cfg.ch_mult[level];
            var blocks = new List<VaeResnetBlock>();
            var attns = new List<VaeAttnBlock>();
            for (int i = 0; i < cfg.num_res_blocks; i++)
            {
                blocks.Add(new VaeResnetBlock(blockIn, blockOut, cfg));
                blockIn = blockOut;
                if (cfg.attn_resolutions.Contains(currentRes)) attns.Add(new VaeAttnBlock(blockIn, cfg));
            }
            bool deepest = level == cfg.NumResolutions - 1;
            levels.Add(new VaeEncoderLevel(blocks, attns, deepest ? null : new VaeDownsample(blockIn)));
            if (!deepest) currentRes /= 2;
        }
        down = new ModuleList<VaeEncoderLevel>(levels.ToArray());
        mid = new VaeMidBlock(blockIn, cfg);
        norm_out = VaeNormalize.Create(cfg, blockIn);
        conv_out = nn.Conv2d(blockIn, cfg.double_z ? 2 * cfg.z_channels : cfg.z_channels, 3, padding: 1);
        RegisterComponents();
    }

    public Conv2d ConvIn => conv_in;
    public ModuleList<VaeEncoderLevel> Down => down;
    public VaeMidBlock Mid => mid;

    /// <summary>Everything after the mid block: norm_out → swish → conv_out.</summary>
    public Tensor Head(Tensor h)
    {
        using var scope = torch.NewDisposeScope();
        return conv_out.forward(F.silu(norm_out.forward(h))).MoveToOuterDisposeScope();
    }

    /// <summary>x: [N, in_channels, H, W] → [N, (2·)z_channels, H/f, W/f].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = conv_in.forward(x);
        foreach (var level in down) h = level.forward(h);
        return Head(mid.forward(h)).MoveToOuterDisposeScope();
    }
}
