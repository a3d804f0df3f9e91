using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>GEGLU: proj (Linear dim → 2·inner) split into [value, gate] halves, value · GELU(gate) with exact erf GELU.
/// Key: proj.</summary>
public sealed class GEGLU : nn.Module<Tensor, Tensor>
{
    private readonly Linear proj;

    public GEGLU(long dimIn, long dimOut, Device? device = null, ScalarType? dtype = null) : base(nameof(GEGLU))
    {
        proj = nn.Linear(dimIn, dimOut * 2, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>x: [..., dim_in] → [..., dim_out].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var halves = proj.call(x).chunk(2, -1);
        return (halves[0] * nn.functional.gelu(halves[1])).MoveToOuterDisposeScope();
    }
}

/// <summary>The transformer MLP (lvdm FeedForward with glu=True, mult 4): net = [GEGLU(dim, 4·dim), Dropout,
/// Linear(4·dim, dim)]. Keys: net.0.proj, net.2.</summary>
public sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    private readonly Sequential net;

    public FeedForward(long dim, double dropout, long mult = 4, Device? device = null, ScalarType? dtype = null) : base(nameof(FeedForward))
    {
        long inner = dim * mult;
        net = nn.Sequential(new GEGLU(dim, inner, device, dtype), nn.Dropout(dropout), nn.Linear(inner, dim, device: device, dtype: dtype));
        RegisterComponents();
    }

    /// <summary>x: [..., dim] → [..., dim].</summary>
    public override Tensor forward(Tensor x) => net.call(x);
}
