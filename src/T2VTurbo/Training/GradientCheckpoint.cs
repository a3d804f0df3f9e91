using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace T2VTurbo.Training;

/// <summary>Activation checkpointing (torch.utils.checkpoint with use_reentrant=True, what lvdm's `use_checkpoint`
/// does; spec §4.6 item 6). TorchSharp has none, so it is a custom autograd function: the forward runs the block
/// without recording a graph (only the block's inputs are kept), and the backward re-runs the block with gradients
/// enabled and back-propagates through that fresh graph. Parameter gradients (frozen base weights need none; LoRA
/// up/down that the block's layer hooks use) are accumulated into <c>.grad</c> by that inner backward, so this works
/// with <c>loss.backward()</c>, not with <c>torch.autograd.grad</c> over parameters (the reentrant variant's limit).
/// Random draws inside the block (dropout) are replayed: the CPU default generator's state is restored before the
/// recomputation, and on CUDA the device generators are re-seeded from a seed drawn (from the CPU generator) before the
/// first run, since TorchSharp cannot read the CUDA generator state.</summary>
public static class GradientCheckpoint
{
    /// <summary>Runs <paramref name="block"/> on <paramref name="inputs"/> with checkpointing when gradients are being
    /// recorded and some input or parameter may need them; otherwise a plain call. The block must be a function of its
    /// inputs and of module state only (no captured tensors that require grad other than parameters).</summary>
    public static Tensor Run(Func<Tensor[], Tensor> block, Tensor[] inputs)
    {
        if (!torch.is_grad_enabled()) return block(inputs);
        // A leaf that requires grad makes the node part of the graph even when no input does (the first block's
        // input is the noisy latent) while parameters inside the block still need their gradients.
        using var anchor = torch.empty(0, requires_grad: true);
        var args = new object[inputs.Length + 2];
        args[0] = block;
        args[1] = anchor;
        for (int i = 0; i < inputs.Length; i++) args[i + 2] = inputs[i];
        return CheckpointFunction.apply(args);
    }

    /// <summary>The recorded node. A public parameterless class because TorchSharp instantiates it itself.</summary>
    public sealed class CheckpointFunction : SingleTensorFunction<CheckpointFunction>
    {
        public override string Name => "GradientCheckpoint";

        public override Tensor forward(AutogradContext ctx, params object[] vars)
        {
            var block = (Func<Tensor[], Tensor>)vars[0];
            var inputs = vars.Skip(2).Cast<Tensor>().ToArray();
            var rng = RngReplay.Capture(inputs);
            ctx.save_data("block", block);
            ctx.save_data("rng", rng);
            ctx.save_data("needsGrad", inputs.Select(x => x.requires_grad).ToArray());
            ctx.save_for_backward(inputs.ToList());
            // TorchSharp runs this with autograd disabled: no activations of the block are kept.
            return block(inputs);
        }

        public override List<Tensor> backward(AutogradContext ctx, Tensor gradOutput)
        {
            var block = (Func<Tensor[], Tensor>)ctx.get_data("block");
            var rng = (RngReplay)ctx.get_data("rng");
            var needsGrad = (bool[])ctx.get_data("needsGrad");
            var saved = ctx.get_saved_variables();
            var grads = new List<Tensor> { null!, null! };   // the delegate (no tensor) and the anchor: no gradient
            using (var scope = torch.NewDisposeScope())
            using (torch.enable_grad())
            {
                var leaves = saved.Select((x, i) => x.detach().requires_grad_(needsGrad[i])).ToArray();
                var restore = rng.Replay();
                var output = block(leaves);
                restore();
                if (output.requires_grad)
                    torch.autograd.backward(new[] { output }, new[] { gradOutput });
                foreach (var leaf in leaves)
                    grads.Add(leaf.requires_grad && leaf.grad is { } g ? g.detach().clone().DetachFromDisposeScope() : null!);
            }
            foreach (var s in saved) s.Dispose();
            return grads;
        }
    }

    /// <summary>Enough of the random state to repeat the block's draws in the recomputation.</summary>
    private sealed class RngReplay
    {
        private readonly Tensor cpuState;
        private readonly long? cudaSeed;

        private RngReplay(Tensor cpuState, long? cudaSeed) { this.cpuState = cpuState; this.cudaSeed = cudaSeed; }

        public static RngReplay Capture(Tensor[] inputs)
        {
            long? cudaSeed = null;
            if (inputs.Any(x => x.device.type == DeviceType.CUDA))
            {
                using var s = torch.randint(0, long.MaxValue, new long[] { 1 }, dtype: ScalarType.Int64);
                cudaSeed = s.item<long>();
                torch.cuda.manual_seed_all(cudaSeed.Value);
            }
            var state = torch.random.get_rng_state().DetachFromDisposeScope();
            return new RngReplay(state, cudaSeed);
        }

        /// <summary>Sets the state the first run started from; the returned action puts back the state the
        /// surrounding backward pass had, so the replay leaves no trace.</summary>
        public Action Replay()
        {
            var outer = torch.random.get_rng_state().DetachFromDisposeScope();
            torch.random.set_rng_state(cpuState);
            if (cudaSeed is long s) torch.cuda.manual_seed_all(s);
            return () => { torch.random.set_rng_state(outer); outer.Dispose(); };
        }
    }
}
