using T2VTurbo.Pipelines;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>Repeated generation must not leak tensors (every step runs in a dispose scope). Tensor.TotalCount is
/// process-wide, so this runs in the serial collection.</summary>
[Collection(MetaDevice.Collection)]
public class PipelineMemoryTests
{
    [Theory]
    [InlineData(GenerationMode.Turbo)]
    [InlineData(GenerationMode.TurboV2)]
    [InlineData(GenerationMode.Teacher)]
    public void Generating_again_and_again_keeps_the_live_tensor_count_flat(GenerationMode mode)
    {
        using var pipe = ModelLoader.Load(new ModelFiles(TinyModel.WeightsPath, Config: TinyModel.ConfigPath), mode, torch.CPU, ScalarType.Float32);
        var options = new GenerateOptions { Mode = mode, Frames = 2, Height = TinyModel.Size(), Width = TinyModel.Size(), Steps = 2, Seed = 1 };
        using (pipe.Generate(new[] { "warm up" }, options)) { }
        long before = torch.Tensor.TotalCount;
        for (int i = 0; i < 5; i++)
            using (pipe.Generate(new[] { "a red circle", "a blue square" }, options with { Seed = i })) { }
        long after = torch.Tensor.TotalCount;
        Assert.True(after == before, $"live tensors grew from {before} to {after} over 5 generations");
    }
}
