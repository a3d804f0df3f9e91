using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>All randomness of a distillation run, reproducible and resumable. Every draw of the algorithm (posterior
/// noise, DDIM index n, forward noise ε, guidance w, reward frame choices) comes from one CPU torch.Generator, so the
/// same seed gives the same numbers on any device, and its state is saved in checkpoints. Dropout (LoRA, temporal
/// convs) uses torch's global generators, which TorchSharp cannot snapshot on CUDA: they are re-seeded at the start of
/// every optimizer step from (seed, step) instead, so a resumed run repeats them too.</summary>
public sealed class TrainingRng : IDisposable
{
    private readonly Generator generator;
    public long Seed { get; }

    public TrainingRng(long seed)
    {
        Seed = seed;
        generator = new Generator((ulong)seed, torch.CPU);
    }

    public Tensor Randn(long[] shape) => torch.randn(shape, dtype: ScalarType.Float32, generator: generator);
    public Tensor Rand(long[] shape) => torch.rand(shape, dtype: ScalarType.Float32, generator: generator);
    public Tensor RandInt(long high, long[] shape) => torch.randint(0, high, shape, dtype: ScalarType.Int64, generator: generator);
    public long[] RandPerm(long n) => torch.randperm(n, generator: generator).data<long>().ToArray();

    /// <summary>Seeds torch's global CPU and CUDA generators (dropout) for optimizer step <paramref name="step"/>.</summary>
    public void SeedGlobalForStep(long step)
    {
        ulong mixed = unchecked((ulong)Seed * 0x9E3779B97F4A7C15UL + (ulong)step * 0xBF58476D1CE4E5B9UL);
        long s = (long)(mixed >> 1);
        torch.manual_seed(s);
        if (torch.cuda.is_available()) torch.cuda.manual_seed_all(s);
    }

    /// <summary>The generator state (base64 of torch's state bytes).</summary>
    public string State
    {
        get
        {
            using var st = generator.get_state();
            return Convert.ToBase64String(st.bytes.ToArray());
        }
    }

    public void Restore(string state)
    {
        var bytes = Convert.FromBase64String(state);
        using var st = torch.tensor(bytes, dtype: ScalarType.Byte);
        generator.set_state(st);
    }

    public void Dispose() => generator.Dispose();
}
