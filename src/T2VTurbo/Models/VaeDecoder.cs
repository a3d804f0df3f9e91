using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Models;

/// <summary>One resolution level of the lvdm VAE decoder: num_res_blocks+1 ResnetBlocks (each followed by an AttnBlock
/// when the level is in attn_resolutions), then an Upsample except at full resolution (level 0).</summary>
public sealed class VaeDecoderLevel : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<VaeResnetBlock> block;   // keys: block.N.*
    private readonly ModuleList<VaeAttnBlock> attn;      // keys: attn.N.*
    private readonly VaeUpsample? upsample;              // keys: upsample.conv.*

    public VaeDecoderLevel(IEnumerable<VaeResnetBlock> blocks, IEnumerable<VaeAttnBlock> attns, VaeUpsample? upsample)
        : base(nameof(VaeDecoderLevel))
    {
        block = new ModuleList<VaeResnetBlock>(blocks.ToArray());
        attn = new ModuleList<VaeAttnBlock>(attns.ToArray());
        this.upsample = upsample;
        RegisterComponents();
    }

    /// <summary>[N, Cin, h, w] → [N, Cout, 2h, 2w] (no doubling at level 0).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = x;
        for (int i = 0; i < block.Count; i++)
        {
            h = block[i].forward(h);
            if (attn.Count > 0) h = attn[i].forward(h);
        }
        if (upsample is not null) h = upsample.forward(h);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>lvdm ae_modules Decoder: conv_in → mid → up levels deepest first → norm_out → swish → conv_out (no tanh).
/// <c>up.{i}</c> is indexed by resolution (0 = full size), so the run order is up.(n−1), …, up.0.</summary>
public sealed class VaeDecoder : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv_in;                     // keys: conv_in.*
    private readonly VaeMidBlock mid;                    // keys: mid.*
    private readonly ModuleList<VaeDecoderLevel> up;     // keys: up.N.*
    private readonly GroupNorm norm_out;                 // keys: norm_out.*
    private readonly Conv2d conv_out;                    // keys: conv_out.*

    public VaeDecoder(AutoencoderConfig cfg) : base(nameof(VaeDecoder))
    {
        int levels = cfg.NumResolutions;
        int blockIn = cfg.ch * cfg.ch_mult[levels - 1];
        int currentRes = cfg.resolution / cfg.DownFactor;
        conv_in = nn.Conv2d(cfg.z_channels, blockIn, 3, padding: 1);
        mid = new VaeMidBlock(blockIn, cfg);
        var byLevel = new VaeDecoderLevel[levels];
        for (int level = levels - 1; level >= 0; level--)   // built in run order, stored by resolution index
        {
            int blockOut = cfg.ch * cfg.ch_mult[level];
            var blocks = new List<VaeResnetBlock>();
            var attns = new List<VaeAttnBlock>();
            for (int i = 0; i < cfg.num_res_blocks + 1; i++)
            {
                blocks.Add(new VaeResnetBlock(blockIn, blockOut, cfg));
                blockIn = blockOut;
                if (cfg.attn_resolutions.Contains(currentRes)) attns.Add(new VaeAttnBlock(blockIn, cfg));
            }
            byLevel[level] = new VaeDecoderLevel(blocks, attns, level == 0 ? null : new VaeUpsample(blockIn));
            if (level != 0) currentRes *= 2;
        }
        up = new ModuleList<VaeDecoderLevel>(byLevel);
        norm_out = VaeNormalize.Create(cfg, blockIn);
        conv_out = nn.Conv2d(blockIn, cfg.out_ch, 3, padding: 1);
        RegisterComponents();
    }

    public Conv2d ConvIn => conv_in;
    public VaeMidBlock Mid => mid;
    /// <summary>Levels by resolution index (0 = full size); run them from the last to the first.</summary>
    public ModuleList<VaeDecoderLevel> Up => up;

    /// <summary>Everything after the level-0 blocks: norm_out → swish → conv_out.</summary>
    public Tensor Head(Tensor h)
    {
        using var scope = torch.NewDisposeScope();
        return conv_out.forward(F.silu(norm_out.forward(h))).MoveToOuterDisposeScope();
    }

    /// <summary>z: [N, z_channels, h, w] → [N, out_ch, h·f, w·f].</summary>
    public override Tensor forward(Tensor z)
    {
        using var scope = torch.NewDisposeScope();
        var h = mid.forward(conv_in.forward(z));
        for (int level = up.Count - 1; level >= 0; level--) h = up[level].forward(h);
        return Head(h).MoveToOuterDisposeScope();
    }
}
