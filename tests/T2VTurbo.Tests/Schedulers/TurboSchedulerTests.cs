using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using T2VTurbo.Schedulers;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Schedulers;

/// <summary>Fixture t2v_turbo_scheduler: float32 schedule, LCM timesteps, boundary scalings, w embedding and the
/// multistep sampling traces (fake UNet ε = 0.9·x + 0.1·(t/1000)·B).</summary>
public class TurboSchedulerTests(ITestOutputHelper output)
{
    private const double TraceTol = 1e-5, ScalingTol = 1e-6;

    private static TurboScheduler Build(Fixture f) => new(TurboSchedulerConfig.FromJson(f.Config["scheduler_config"]!.AsObject()));

    [Fact]
    public void Float32_schedule_matches_reference()
    {
        using var f = Fixture.Load("t2v_turbo_scheduler");
        var s = Build(f);
        using var betas = torch.tensor(s.Betas);
        using var ac = s.AlphasCumprodTensor();
        // bit-exact: ReferenceKernels reproduces PyTorch 1.13's float32 linspace and cumprod
        f.AssertClose(betas, "betas", 0);
        f.AssertClose(ac, "alphas_cumprod", 0);
    }

    [Fact]
    public void Timesteps_match_for_every_step_count_and_origin_step_count()
    {
        using var f = Fixture.Load("t2v_turbo_scheduler");
        var s = Build(f);
        var table = f.Config["timesteps"]!.AsObject();
        Assert.NotEmpty(table);
        foreach (var (key, values) in table)
        {
            var m = Regex.Match(key, @"lcm_origin_steps=(\d+),num_inference_steps=(\d+)");
            Assert.True(m.Success, $"unexpected timesteps key '{key}'");
            int L = int.Parse(m.Groups[1].Value), n = int.Parse(m.Groups[2].Value);
            var actual = s.Timesteps(n, L);
            Assert.Equal(values!.AsArray().Select(v => v!.GetValue<long>()).ToArray(), actual);
            using var stored = f.In($"timesteps_lcm{L}_n{n}");
            Assert.Equal(stored.data<long>().ToArray(), actual);
        }
        Assert.Throws<ArgumentException>(() => s.Timesteps(51, 50));
        Assert.Throws<ArgumentException>(() => s.Timesteps(0, 50));
    }

    [Fact]
    public void Boundary_scalings_match_scheduler_training_and_float64_references()
    {
        using var f = Fixture.Load("t2v_turbo_scheduler");
        using var t = f.In("bc_timesteps");
        var (cSkip, cOut) = BoundaryScalings.Compute(t);
        Assert.Equal(ScalarType.Float32, cSkip.dtype);
        foreach (var name in new[] { "scheduler", "train" })
        {
            AssertCloseRelative(f, cSkip, $"c_skip_{name}_f32", ScalingTol);
            AssertCloseRelative(f, cOut, $"c_out_{name}_f32", ScalingTol);
        }
        using var t64 = t.to(ScalarType.Float64);
        var (cSkip64, cOut64) = BoundaryScalings.Compute(t64);
        AssertCloseRelative(f, cSkip64, "c_skip_f64", 1e-12);
        AssertCloseRelative(f, cOut64, "c_out_f64", 1e-12);

        // the scheduler's scalar path (used by Step) agrees with the float32 tables for every timestep
        var ts = t.data<long>().ToArray();
        using var scalarSkip = torch.tensor(ts.Select(x => TurboScheduler.ScalingsF32(x).c_skip).ToArray());
        using var scalarOut = torch.tensor(ts.Select(x => TurboScheduler.ScalingsF32(x).c_out).ToArray());
        AssertCloseRelative(f, scalarSkip, "c_skip_scheduler_f32", ScalingTol);
        AssertCloseRelative(f, scalarOut, "c_out_scheduler_f32", ScalingTol);
        cSkip.Dispose(); cOut.Dispose(); cSkip64.Dispose(); cOut64.Dispose();
    }

    [Fact]
    public void Guidance_embedding_matches_pipeline()
    {
        using var f = Fixture.Load("t2v_turbo_scheduler");
        var keys = f.Io.Keys.Where(k => k.StartsWith("w_embedding_")).ToList();
        Assert.NotEmpty(keys);
        foreach (var key in keys)
        {
            var m = Regex.Match(key, @"^w_embedding_gs([\d.]+)_dim(\d+)$");
            Assert.True(m.Success, $"unexpected key '{key}'");
            using var expected = f.In(key);
            using var emb = Embeddings.Guidance(double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
                expected.shape[0], int.Parse(m.Groups[2].Value));
            f.AssertClose(emb, key, TraceTol);
        }
    }

    [Fact] public void Trace_n1_lcm50() => CheckTrace("trace_n1_lcm50");
    [Fact] public void Trace_n4_lcm50() => CheckTrace("trace_n4_lcm50");
    [Fact] public void Trace_n8_lcm50() => CheckTrace("trace_n8_lcm50");
    [Fact] public void Trace_n4_lcm200() => CheckTrace("trace_n4_lcm200");

    /// <summary>Regenerates the seeded draws (initial latents, then one per step) with a TorchSharp CPU generator.</summary>
    [Fact]
    public void Trace_gen_n4_lcm50_with_seeded_generator()
    {
        const string trace = "trace_gen_n4_lcm50";
        using var f = Fixture.Load("t2v_turbo_scheduler");
        var cfg = f.Config["traces"]![trace]!.AsObject();
        ulong seed = cfg["seed"]!.GetValue<ulong>();
        using var expectedInit = f.In($"{trace}/initial_latents");
        using var g = new torch.Generator(seed);
        using var init = torch.randn(expectedInit.shape, dtype: ScalarType.Float32, generator: g);
        f.AssertClose(init, $"{trace}/initial_latents", 0);
        var drawn = new List<Tensor>();
        var fromGenerator = NoiseProviders.FromGenerator(g);
        NoiseProvider recording = (step, shape) => { var z = fromGenerator(step, shape); drawn.Add(z.clone().DetachFromDisposeScope()); return z; };
        CheckTrace(trace, init, recording);
        int n = cfg["num_inference_steps"]!.GetValue<int>();
        Assert.Equal(n > 1 ? n : 0, drawn.Count);
        for (int k = 0; k < drawn.Count; k++) f.AssertClose(drawn[k], $"{trace}/step{k}/noise", 0);
        foreach (var z in drawn) z.Dispose();
    }

    [Fact]
    public void Sampling_loop_contract_noise_draws_callback_and_cancellation()
    {
        var s = new TurboScheduler();
        using var latents = torch.randn(new long[] { 1, 4, 2, 3, 3 });
        var draws = new List<int>();
        NoiseProvider noise = (step, shape) => { draws.Add(step); return torch.zeros(shape); };
        EpsDenoiser zero = (x, t) => torch.zeros_like(x);

        // one step: no noise drawn, output = denoised, the caller's latents stay alive
        using (var one = s.Sample(zero, latents, 1, 50, noise)) Assert.Empty(draws);
        Assert.Equal(5, latents.dim());   // would throw on a disposed tensor

        // n steps: one draw per step including the last; the callback sees every step in order
        var seen = new List<(int step, long t)>();
        using (var four = s.Sample(zero, latents, 4, 50, noise, st => seen.Add((st.Step, st.Timestep))))
            Assert.Equal(latents.shape, four.shape);
        Assert.Equal(new[] { 0, 1, 2, 3 }, draws);
        Assert.Equal(new[] { (0, 999L), (1, 759L), (2, 519L), (3, 279L) }, seen);

        Assert.Throws<ArgumentException>(() => s.Sample(zero, latents, 4, 50, noise: null));
        using var cts = new CancellationTokenSource();
        int calls = 0;
        Assert.Throws<OperationCanceledException>(() =>
            s.Sample((x, t) => { if (++calls == 2) cts.Cancel(); return torch.zeros_like(x); }, latents, 4, 50, noise, cancellationToken: cts.Token));
        Assert.Equal(2, calls);
    }

    /// <summary>Runs the sampling loop with the fixture's fake UNet and checks every stored tensor of the trace.</summary>
    private void CheckTrace(string trace, Tensor? initialLatents = null, NoiseProvider? noise = null)
    {
        using var f = Fixture.Load("t2v_turbo_scheduler");
        using var scope = torch.NewDisposeScope();
        var s = Build(f);
        var cfg = f.Config["traces"]![trace]!.AsObject();
        int n = cfg["num_inference_steps"]!.GetValue<int>(), L = cfg["lcm_origin_steps"]!.GetValue<int>();
        double gs = cfg["guidance_scale"]!.GetValue<double>();

        Assert.Equal(f.In($"{trace}/timesteps").data<long>().ToArray(), s.Timesteps(n, L));
        var latents = initialLatents ?? f.In($"{trace}/initial_latents");
        var expectedCond = f.In($"{trace}/timestep_cond");
        f.AssertClose(Embeddings.Guidance(gs, latents.shape[0], (int)expectedCond.shape[1]), $"{trace}/timestep_cond", TraceTol);

        // injected noise: the recorded draw of each step (none for a 1-step trace)
        noise ??= NoiseProviders.FromList(Enumerable.Range(0, n).Where(k => f.Has($"{trace}/step{k}/noise")).Select(k => f.In($"{trace}/step{k}/noise")).ToList());
        var fakeB = f.In("fake_unet_B");
        var seenTs = new List<long[]>();
        EpsDenoiser fakeUnet = (x, t) =>
        {
            seenTs.Add(t.data<long>().ToArray());
            var tb = BoundaryScalings.AppendDims(t.to(ScalarType.Float32) / 1000, x.dim());   // [B, 1, 1, 1, 1]
            return 0.9 * x + 0.1 * tb * fakeB;
        };
        int steps = 0;
        double worst = 0;
        var result = s.Sample(fakeUnet, latents, n, L, noise, st =>
        {
            var p = $"{trace}/step{st.Step}";
            Assert.Equal(f.In($"{p}/unet_in_ts").data<long>().ToArray(), seenTs[^1]);
            worst = Math.Max(worst, f.AssertClose(st.Input, $"{p}/unet_in_latents", TraceTol));
            worst = Math.Max(worst, f.AssertClose(st.ModelOutput, $"{p}/model_output", TraceTol));
            worst = Math.Max(worst, f.AssertClose(s.PredictOriginal(st.ModelOutput, st.Timestep, st.Input), $"{p}/pred_x0", TraceTol));
            worst = Math.Max(worst, f.AssertClose(st.Denoised, $"{p}/denoised", TraceTol));
            worst = Math.Max(worst, f.AssertClose(st.Next, $"{p}/prev_sample", TraceTol));
            steps++;
        });
        Assert.Equal(n, steps);
        Assert.False(f.Has($"{trace}/step{n}/denoised"), $"{trace} has more steps than num_inference_steps");
        worst = Math.Max(worst, f.AssertClose(result, $"{trace}/output_denoised", TraceTol));
        output.WriteLine($"{trace}: max abs err over all per-step tensors {worst:E2}");
        result.Dispose();
    }

    /// <summary>abs error ≤ tol and, where the reference is non-zero, relative error ≤ tol (c_skip is tiny for t ≥ 19).</summary>
    private void AssertCloseRelative(Fixture f, Tensor actual, string name, double tol)
    {
        f.AssertClose(actual, name, tol);
        using var scope = torch.NewDisposeScope();
        var e = f.In(name).to(ScalarType.Float64);
        var a = actual.to(ScalarType.Float64);
        var nz = e.ne(0);
        var rel = ((a - e).abs() / e.abs().clamp_min(1e-300)).masked_select(nz);
        double maxRel = rel.numel() == 0 ? 0 : rel.max().item<double>();
        output.WriteLine($"{f.Name}/{name}: max rel err {maxRel:E2}");
        Assert.True(maxRel <= tol, $"{f.Name}/{name}: max rel err {maxRel:E2} > {tol:E0}");
    }
}
