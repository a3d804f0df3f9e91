using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Lora;

/// <summary>LoRA injected into a UNet without replacing its layers: a forward hook on each target adds
/// dropout(up(down(x)))·scale to the layer's output, exactly the forward of cloneofsimo's LoraInjected* wrappers
/// (spec §3.2). Down keeps the base kernel/stride/padding/dilation/groups; up is 1×1(×1). Dropout p is 0.1 for
/// Linear/Conv2d and 0 for Conv3d (the class defaults the reference actually uses), active only in training mode.
/// The model's code must invoke its layers through <c>call()</c> so that hooks run.</summary>
public sealed class LoraInjection : nn.Module
{
    private readonly List<(LoraTargets.Target Target, Parameter Up, Parameter Down, double Dropout)> layers = new();
    private readonly List<Action> hooks = new();   // each removes one forward hook
    private readonly double scale;

    public IReadOnlyList<LoraTargets.Target> Targets => layers.Select(l => l.Target).ToList();

    private LoraInjection(double scale) : base("LoraInjection") => this.scale = scale;

    /// <summary>Injects LoRA of rank min(<paramref name="rank"/>, in, out) into every target, initialised as the
    /// reference does for training (down ~ N(0, 1/r²), up = 0), in float32 on the layer's device.</summary>
    public static LoraInjection Create(nn.Module unet, long rank, double scale = 1.0, Generator? generator = null)
    {
        var inj = new LoraInjection(scale);
        foreach (var t in LoraTargets.Find(unet))
        {
            long r = t.RankFor(rank);
            var w = (Tensor)t.Module.get_parameter("weight")!;
            // drawn on the CPU (a CPU generator cannot fill a CUDA tensor), so the init is the same on every device
            using var cpuDown = torch.randn(t.DownShape(r), dtype: ScalarType.Float32, device: torch.CPU, generator: generator);
            var down = (cpuDown / r).to(w.device);
            var up = torch.zeros(t.UpShape(r), dtype: ScalarType.Float32, device: w.device);
            inj.Add(t, up, down);
        }
        return inj;
    }

    /// <summary>Injects given weights (e.g. read from unet_lora.pt) for inference or to continue training.</summary>
    public static LoraInjection FromWeights(nn.Module unet, LoraWeights weights, double scale = 1.0)
    {
        var inj = new LoraInjection(scale);
        foreach (var t in LoraTargets.Find(unet))
        {
            if (!weights.Pairs.TryGetValue(t.Name, out var p))
                throw new InvalidDataException($"LoRA weights have no entry for target '{t.Name}'");
            var w = (Tensor)t.Module.get_parameter("weight")!;
            inj.Add(t, p.Up.to(ScalarType.Float32, w.device, copy: true), p.Down.to(ScalarType.Float32, w.device, copy: true));
        }
        return inj;
    }

    private void Add(LoraTargets.Target t, Tensor up, Tensor down)
    {
        var upP = new Parameter(up, requires_grad: true);
        var downP = new Parameter(down, requires_grad: true);
        string key = t.Name.Replace('.', '_');
        register_parameter($"{key}__up", upP);
        register_parameter($"{key}__down", downP);
        double p = t.Module is Conv3d ? 0.0 : 0.1;
        layers.Add((t, upP, downP, p));
        var hookedModule = (nn.Module<Tensor, Tensor>)t.Module;
        var remover = hookedModule.register_forward_hook((m, input, output) => output + Delta(t.Module, input, upP, downP, p));
        hooks.Add(remover.remove);
    }

    private Tensor Delta(nn.Module layer, Tensor x, Tensor up, Tensor down, double dropout)
    {
        var dt = x.dtype;
        Tensor h = layer switch
        {
            Linear => F.linear(F.linear(x, down.to(dt)), up.to(dt)),
            Conv2d c => F.conv2d(F.conv2d(x, down.to(dt), null, c.stride, c.padding, c.dilation, c.groups), up.to(dt)),
            Conv3d c => F.conv3d(F.conv3d(x, down.to(dt), null, c.stride, c.padding, c.dilation, c.groups), up.to(dt)),
            _ => throw new InvalidOperationException($"not a LoRA target: {layer.GetType().Name}"),
        };
        if (training && dropout > 0) h = F.dropout(h, dropout, training: true);
        return scale == 1.0 ? h : h * scale;
    }

    /// <summary>The trainable LoRA parameters in target order (up, down per target), as the optimizer should see them.</summary>
    public IEnumerable<Parameter> LoraParameters() => layers.SelectMany(l => new[] { l.Up, l.Down });

    /// <summary>Current weights, keyed by target name (copies, float32, CPU).</summary>
    public LoraWeights ToWeights() => new(layers.ToDictionary(l => l.Target.Name,
        l => new LoraWeights.Pair(l.Up.detach().cpu().clone(), l.Down.detach().cpu().clone())));

    /// <summary>The official list order: [up_0, down_0, up_1, down_1, …].</summary>
    public IReadOnlyList<Tensor> ToOfficialList() => layers.SelectMany(l => new[] { l.Up.detach().cpu(), l.Down.detach().cpu() }).ToList();

    /// <summary>Removes the hooks; the base layers are then exactly what they were before injection.</summary>
    public void Remove()
    {
        foreach (var remove in hooks) remove();
        hooks.Clear();
    }

    /// <summary>Folds the LoRA into the base weights and removes the hooks.</summary>
    public void MergeAndRemove(nn.Module unet)
    {
        using var w = ToWeights();
        Remove();
        LoraMerge.Merge(unet, w, scale);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) Remove();
        base.Dispose(disposing);
    }
}
