using T2VTurbo.IO;
using T2VTurbo.Lora;
using T2VTurbo.Models.Unet;
using T2VTurbo.Tests.Support;
using T2VTurbo.Training;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Training;

/// <summary>Activation checkpointing must not change the math: same outputs and same gradients (LoRA weights and
/// inputs), in training mode with LoRA dropout active (the recomputation replays the dropout masks).</summary>
[Collection(DistillCollection.Name)]
public class GradientCheckpointTests(ITestOutputHelper output)
{
    private sealed record Result(Tensor Output, Tensor[] LoraGrads, Tensor ContextGrad, Tensor XGrad);

    private static Result ForwardBackward(Unet3D unet, LoraInjection lora, Fixture f, bool checkpoint)
    {
        unet.BlockRunner = checkpoint ? GradientCheckpoint.Run : null;
        foreach (var p in lora.LoraParameters()) p.grad = null;
        var x = f.In("x").detach().requires_grad_(true);
        var ctx = f.In("context").detach().requires_grad_(true);
        torch.manual_seed(99);   // the same dropout masks for both variants
        var y = unet.forward(x, f.In("timesteps"), ctx, f.In("fps"), f.In("timestep_cond"), f.In("motion_cond"));
        var loss = (y * y).mean();
        loss.backward();
        var grads = lora.LoraParameters().Select(p => p.grad!.detach().clone()).ToArray();
        return new Result(y.detach().clone(), grads, ctx.grad!.detach().clone(), x.grad!.detach().clone());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Gradients_with_and_without_checkpointing_are_equal(bool trainMode)
    {
        using var f = Fixture.Load("unet_vc2_turbo");
        using var unet = Unet3D.FromConfig(f.Config);
        unet.LoadFrom(f.Weights, f.Prefix);
        foreach (var p in unet.parameters()) p.requires_grad = false;
        using var g = new Generator(3, torch.CPU);
        using var lora = LoraInjection.Create(unet, 4, generator: g);
        using (torch.no_grad())
            foreach (var p in lora.LoraParameters()) p.add_(torch.randn(p.shape, generator: g) * 0.05);   // up ≠ 0: every grad is non-trivial
        if (trainMode) { unet.train(); lora.train(); } else { unet.eval(); lora.eval(); }

        var plain = ForwardBackward(unet, lora, f, checkpoint: false);
        var ckpt = ForwardBackward(unet, lora, f, checkpoint: true);

        double outErr = (plain.Output - ckpt.Output).abs().max().item<float>();
        double loraErr = plain.LoraGrads.Zip(ckpt.LoraGrads).Max(p => (p.First - p.Second).abs().max().item<float>());
        double ctxErr = (plain.ContextGrad - ckpt.ContextGrad).abs().max().item<float>();
        double xErr = (plain.XGrad - ckpt.XGrad).abs().max().item<float>();
        double gradScale = plain.LoraGrads.Max(t => t.abs().max().item<float>());
        output.WriteLine($"train={trainMode}: max abs err output {outErr:E2}, LoRA grads {loraErr:E2} (largest grad {gradScale:E2}), context grad {ctxErr:E2}, x grad {xErr:E2}");
        Assert.True(gradScale > 0);
        Assert.True(plain.LoraGrads.All(t => t.abs().max().item<float>() > 0), "every LoRA weight gets a gradient");
        Assert.True(outErr <= 1e-6, $"output differs by {outErr}");
        Assert.True(loraErr <= 1e-6 * Math.Max(1, gradScale), $"LoRA gradients differ by {loraErr}");
        Assert.True(ctxErr <= 1e-6 && xErr <= 1e-6, $"input gradients differ by {ctxErr} / {xErr}");
    }

    [Fact]
    public void Checkpointing_in_training_mode_replays_dropout_so_a_different_seed_would_show()
    {
        // Guards the test above against being vacuous: with dropout active, different masks do change the gradients.
        using var f = Fixture.Load("unet_vc2_turbo");
        using var unet = Unet3D.FromConfig(f.Config);
        unet.LoadFrom(f.Weights, f.Prefix);
        foreach (var p in unet.parameters()) p.requires_grad = false;
        using var g = new Generator(3, torch.CPU);
        using var lora = LoraInjection.Create(unet, 4, generator: g);
        using (torch.no_grad())
            foreach (var p in lora.LoraParameters()) p.add_(torch.randn(p.shape, generator: g) * 0.05);
        unet.train(); lora.train();
        var a = ForwardBackward(unet, lora, f, checkpoint: true);
        torch.manual_seed(100);
        unet.BlockRunner = null;
        var x = f.In("x");
        using var y = unet.forward(x, f.In("timesteps"), f.In("context"), f.In("fps"), f.In("timestep_cond"), f.In("motion_cond"));
        Assert.True((y.detach() - a.Output).abs().max().item<float>() > 0, "dropout masks have an effect");
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DistillCollection
{
    /// <summary>Training tests seed torch's global generator (dropout): they run alone so no other test draws from it.</summary>
    public const string Name = "distill (global RNG)";
}
