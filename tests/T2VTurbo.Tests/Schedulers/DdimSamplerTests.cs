using T2VTurbo.Schedulers;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Schedulers;

/// <summary>Fixture ddim_sampler: lvdm DDIMSampler tables and both 50-step CFG traces, with the fake UNet
/// ε = 0.9·x + 0.1·(t/1000)·B + 0.1·mean(context[b])·C rebuilt from fake_unet_B / fake_unet_C.</summary>
public class DdimSamplerTests(ITestOutputHelper output)
{
    private static readonly string[] Tables =
        { "ddim_alphas", "ddim_alphas_prev", "ddim_sigmas", "ddim_sqrt_one_minus_alphas", "ddim_scale_arr", "ddim_scale_arr_prev" };

    private static DdimSampler Build(Fixture f, string trace)
    {
        var cfg = f.Config["traces"]![trace]!.AsObject();
        // the sampler ran on a LatentDiffusion built from the VC2 yaml: default schedule + the fixture's use_scale/scale_b
        var schedule = new NoiseSchedule(new NoiseScheduleConfig
        {
            use_scale = f.Config["use_scale"]!.GetValue<bool>(),
            scale_b = f.Config["scale_b"]!.GetValue<double>(),
        });
        return new DdimSampler(schedule, cfg["n_steps"]!.GetValue<int>(), cfg["eta"]!.GetValue<double>(),
            f.Config["ddim_discretize"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("eta0_cfg7.5")]
    [InlineData("eta1_cfg12")]
    public void Schedule_tables_match(string trace)
    {
        using var f = Fixture.Load("ddim_sampler");
        double tol = f.Config["tolerance"]!["tables"]!.GetValue<double>();
        var s = Build(f, trace);
        Assert.Equal(f.In($"{trace}/ddim_timesteps").data<long>().ToArray(), s.DdimTimesteps);
        var actual = new Dictionary<string, Tensor>
        {
            ["ddim_alphas"] = torch.tensor(s.DdimAlphas),
            ["ddim_alphas_prev"] = torch.tensor(s.DdimAlphasPrev),
            ["ddim_sigmas"] = torch.tensor(s.DdimSigmas),
            ["ddim_sqrt_one_minus_alphas"] = torch.tensor(s.DdimSqrtOneMinusAlphas),
            ["ddim_scale_arr"] = torch.tensor(s.DdimScaleArr!),
            ["ddim_scale_arr_prev"] = torch.tensor(s.DdimScaleArrPrev!),
        };
        foreach (var name in Tables) f.AssertClose(actual[name], $"{trace}/{name}", tol);
        foreach (var t in actual.Values) t.Dispose();
    }

    [Fact] public void Trace_eta0_cfg7_5() => CheckTrace("eta0_cfg7.5");
    [Fact] public void Trace_eta1_cfg12() => CheckTrace("eta1_cfg12");

    private void CheckTrace(string trace)
    {
        using var f = Fixture.Load("ddim_sampler");
        using var scope = torch.NewDisposeScope();
        double tol = f.Config["tolerance"]!["per-step tensors"]!.GetValue<double>();
        var cfg = f.Config["traces"]![trace]!.AsObject();
        double scale = cfg["unconditional_guidance_scale"]!.GetValue<double>();
        var sampler = Build(f, trace);
        int n = sampler.DdimTimesteps.Length;
        var expectedOrder = cfg["timesteps_in_order"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray();
        var expectedIndex = cfg["indices_in_order"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray();

        // fake UNet: per-sample context mean over the last two dims → [B, 1, 1, 1, 1]
        var fakeB = f.In("fake_unet_B");
        var fakeC = f.In("fake_unet_C");
        var ctxMean = new Dictionary<bool, Tensor>
        {
            [true] = f.In("context_cond").mean(new long[] { 1, 2 }),
            [false] = f.In("context_uncond").mean(new long[] { 1, 2 }),
        };
        var xT = f.In($"{trace}/x_T");
        var calls = new List<(bool cond, long[] ts, Tensor eps)>();
        ConditionalDenoiser fakeUnet = (x, t, cond) =>
        {
            var tb = BoundaryScalings.AppendDims(t.to(ScalarType.Float32) / 1000, x.dim());
            var cb = BoundaryScalings.AppendDims(ctxMean[cond], x.dim());
            var eps = 0.9 * x + 0.1 * tb * fakeB + 0.1 * cb * fakeC;
            calls.Add((cond, t.data<long>().ToArray(), eps));
            return eps;
        };
        var noises = Enumerable.Range(0, n).Where(k => f.Has(Key(trace, k, "noise"))).Select(k => f.In(Key(trace, k, "noise"))).ToList();
        Assert.True(noises.Count == 0 || noises.Count == n, $"{trace}: {noises.Count} recorded noises for {n} steps");
        Assert.True(sampler.Eta == 0 || noises.Count == n, $"{trace}: eta {sampler.Eta} but no recorded noise");
        NoiseProvider? noise = noises.Count == n ? NoiseProviders.FromList(noises) : null;

        double worst = 0;
        int steps = 0;
        var samples = sampler.Sample(fakeUnet, xT, scale, noise, st =>
        {
            int k = st.Step;
            Assert.Equal(expectedOrder[k], st.Timestep);
            Assert.Equal(f.In(Key(trace, k, "index")).data<long>()[0], expectedIndex[k]);
            Assert.Equal(expectedIndex[k], n - 1 - k);
            // cond pass first, then uncond, both at this step's timestep
            Assert.Equal(2, calls.Count);
            Assert.True(calls[0].cond && !calls[1].cond, "conditional pass must come first");
            var ts = f.In(Key(trace, k, "ts")).data<long>().ToArray();
            Assert.Equal(ts, calls[0].ts);
            Assert.Equal(ts, calls[1].ts);
            worst = Math.Max(worst, f.AssertClose(st.Input, Key(trace, k, "x"), tol));
            worst = Math.Max(worst, f.AssertClose(calls[0].eps, Key(trace, k, "e_t_cond"), tol));
            worst = Math.Max(worst, f.AssertClose(calls[1].eps, Key(trace, k, "e_t_uncond"), tol));
            worst = Math.Max(worst, f.AssertClose(st.ModelOutput, Key(trace, k, "e_t"), tol));
            worst = Math.Max(worst, f.AssertClose(st.Denoised, Key(trace, k, "pred_x0"), tol));
            worst = Math.Max(worst, f.AssertClose(st.Next, Key(trace, k, "x_prev"), tol));
            calls.Clear();
            steps++;
        });
        Assert.Equal(n, steps);
        worst = Math.Max(worst, f.AssertClose(samples, $"{trace}/samples", tol));
        output.WriteLine($"{trace}: max abs err over all steps {worst:E2}");
        samples.Dispose();
    }

    private static string Key(string trace, int step, string name) => $"{trace}/step{step:D2}/{name}";

    [Fact]
    public void Guidance_scale_one_runs_a_single_conditional_pass()
    {
        var sampler = new DdimSampler(new NoiseSchedule(), 10);
        int uncond = 0;
        using var x = torch.randn(new long[] { 1, 4, 2, 3, 3 });
        using var y = sampler.Sample((xx, t, c) => { if (!c) uncond++; return torch.zeros_like(xx); }, x, 1.0);
        Assert.Equal(0, uncond);
        Assert.Throws<ArgumentException>(() => new DdimSampler(new NoiseSchedule(), 10, eta: 1.0).Sample((xx, t, c) => xx, x, 2.0));
        Assert.Throws<ArgumentException>(() => new DdimSampler(new NoiseSchedule(), 3));   // 1000 // 3 leaves timestep 1000
    }

    [Fact]
    public void Sampling_honours_cancellation()
    {
        var sampler = new DdimSampler(new NoiseSchedule(), 10);
        using var cts = new CancellationTokenSource();
        using var x = torch.randn(new long[] { 1, 4, 2, 3, 3 });
        int calls = 0;
        Assert.Throws<OperationCanceledException>(() => sampler.Sample((xx, t, c) => { if (++calls == 3) cts.Cancel(); return torch.zeros_like(xx); },
            x, 1.0, cancellationToken: cts.Token));
        Assert.Equal(3, calls);
    }
}
