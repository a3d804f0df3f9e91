using T2VTurbo.IO;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

public class StateDictLoaderTests
{
    private sealed class Tiny : nn.Module
    {
        public readonly Linear proj;
        public readonly LayerNorm norm;
        public Tiny() : base("Tiny")
        {
            proj = nn.Linear(3, 4);
            norm = nn.LayerNorm(new long[] { 4 });
            RegisterComponents();
        }
    }

    private static Dictionary<string, Tensor> Weights(string prefix) => new()
    {
        [prefix + "proj.weight"] = torch.full(4, 3, 0.5f),
        [prefix + "proj.bias"] = torch.arange(4, dtype: ScalarType.Float32),
        [prefix + "norm.weight"] = torch.ones(4),
        [prefix + "norm.bias"] = torch.zeros(4),
        ["other.weight"] = torch.zeros(2),
    };

    [Fact]
    public void Prefix_selects_the_sub_model_and_copies_values()
    {
        using var m = new Tiny();
        using var src = new TensorDictSource(Weights("first_stage_model."));
        var report = StateDictLoader.Load(m, src, new LoadOptions { Prefix = "first_stage_model." });
        Assert.Equal(4, report.Loaded.Count);
        Assert.Equal(3f, m.proj.bias!.data<float>()[3]);
        Assert.Equal(0.5f, m.proj.weight!.data<float>()[0]);
    }

    [Fact]
    public void Strict_reports_missing_unexpected_and_shape_mismatch_together()
    {
        using var m = new Tiny();
        var w = Weights("");
        w.Remove("norm.bias");
        w["proj.weight"] = torch.zeros(4, 5);
        w["extra.weight"] = torch.zeros(1);
        using var src = new TensorDictSource(w, "bad.safetensors");
        var e = Assert.Throws<StateDictMismatchException>(() => StateDictLoader.Load(m, src));
        Assert.Contains("bad.safetensors", e.Message);
        Assert.Contains("missing: norm.bias", e.Message);
        Assert.Contains("unexpected: extra.weight", e.Message);
        Assert.Contains("unexpected: other.weight", e.Message);
        Assert.Contains("proj.weight: checkpoint [4,5] vs module [4,3]", e.Message);
        Assert.Equal(new[] { "norm.bias" }, e.Missing);
    }

    [Fact]
    public void Non_strict_keeps_missing_weights_and_skips_unexpected()
    {
        using var m = new Tiny();
        var w = Weights("");
        w.Remove("norm.bias");
        using var src = new TensorDictSource(w);
        var report = StateDictLoader.Load(m, src, new LoadOptions { Strict = false });
        Assert.Equal(new[] { "norm.bias" }, report.Missing);
        Assert.Equal(new[] { "other.weight" }, report.Unexpected);
    }

    [Fact]
    public void Loads_into_the_module_dtype()
    {
        using var m = new Tiny();
        m.to(ScalarType.BFloat16);
        using var src = new TensorDictSource(Weights(""));
        StateDictLoader.Load(m, src, new LoadOptions { Strict = false });
        Assert.Equal(ScalarType.BFloat16, m.proj.weight!.dtype);
        Assert.Equal(0.5f, m.proj.weight!.to(ScalarType.Float32).data<float>()[0]);
    }
}
