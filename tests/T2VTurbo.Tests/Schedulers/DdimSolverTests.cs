using System.Globalization;
using System.Text.RegularExpressions;
using T2VTurbo.Schedulers;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Schedulers;

/// <summary>Fixture ddim_solver: DDIMSolver tables and steps, x0/ε conversions, w embedding, boundary scalings,
/// losses, add_noise and one full distillation target computation (cd_step).</summary>
public class DdimSolverTests(ITestOutputHelper output)
{
    private sealed record Tolerances(double Tables, double F32, double F64, double LossRelative);

    private static Tolerances Tol(Fixture f)
    {
        var t = f.Config["tolerance"]!;
        return new(t["tables"]!.GetValue<double>(), t["float32 outputs"]!.GetValue<double>(), t["float64 outputs"]!.GetValue<double>(), t["losses"]!.GetValue<double>());
    }

    private static double Arg(Fixture f, string section, string name) => f.Config[section]![name]!.GetValue<double>();

    /// <summary>The training script's wiring: T2VTurboScheduler(0.00085, 0.012) → DDIMSolver(ᾱ, T, N) and the CD helpers.</summary>
    private static ConsistencyDistillation Build(Fixture f)
    {
        var solverArgs = f.Config["DDIMSolver_args"]!;
        Assert.False(solverArgs["use_scale"]!.GetValue<bool>(), "the port implements the use_scale=False solver only");
        var scheduler = new TurboScheduler(new TurboSchedulerConfig { num_train_timesteps = solverArgs["timesteps"]!.GetValue<int>() });
        return new ConsistencyDistillation(scheduler, solverArgs["ddim_timesteps"]!.GetValue<int>(),
            (int)Arg(f, "train_args_defaults", "topk"), Arg(f, "train_args_defaults", "w_min"), Arg(f, "train_args_defaults", "w_max"),
            Arg(f, "train_args_defaults", "timestep_scaling_factor"));
    }

    [Fact]
    public void Solver_tables_match()
    {
        using var f = Fixture.Load("ddim_solver");
        using var scope = torch.NewDisposeScope();
        var tol = Tol(f);
        var cd = Build(f);
        var solver = cd.Solver;
        Assert.Equal(f.IntList("ddim_timesteps"), solver.DdimTimesteps);
        Assert.Equal(f.In("ddim_timesteps").data<long>().ToArray(), solver.DdimTimesteps);
        Assert.Equal(f.Config["step_ratio"]!.GetValue<int>(), solver.StepRatio);
        f.AssertClose(torch.tensor(cd.Scheduler.AlphasCumprod), "alpha_cumprods", tol.Tables);
        f.AssertClose(torch.tensor(cd.AlphaSchedule), "alpha_schedule", tol.Tables);
        f.AssertClose(torch.tensor(cd.SigmaSchedule), "sigma_schedule", tol.Tables);
        f.AssertClose(torch.tensor(solver.DdimAlphaCumprods), "ddim_alpha_cumprods", tol.Tables);
        Assert.Equal(ScalarType.Float64, f.In("ddim_alpha_cumprods_prev").dtype);
        f.AssertClose(torch.tensor(solver.DdimAlphaCumprodsPrev), "ddim_alpha_cumprods_prev", tol.Tables);
    }

    [Fact]
    public void Ddim_step_returns_float64_like_the_reference()
    {
        using var f = Fixture.Load("ddim_solver");
        using var scope = torch.NewDisposeScope();
        var cd = Build(f);
        var xPrev = cd.Solver.DdimStep(f.In("ddim_step/pred_x0"), f.In("ddim_step/pred_noise"), f.In("ddim_step/timestep_index"));
        Assert.Equal(f.In("ddim_step/x_prev").dtype, xPrev.dtype);
        f.AssertClose(xPrev, "ddim_step/x_prev", Tol(f).F64);
    }

    [Fact]
    public void Ddim_reverse_step_matches()
    {
        using var f = Fixture.Load("ddim_solver");
        using var scope = torch.NewDisposeScope();
        var cd = Build(f);
        var xT = cd.Solver.DdimReverseStep(f.In("ddim_reverse_step/x_prev"), f.In("ddim_reverse_step/pred_noise"), f.In("ddim_reverse_step/ts"));
        Assert.Equal(ScalarType.Float32, xT.dtype);
        f.AssertClose(xT, "ddim_reverse_step/x_t", Tol(f).F32);
    }

    [Theory]
    [InlineData("epsilon")]
    [InlineData("sample")]
    [InlineData("v_prediction")]
    public void Original_sample_and_noise_conversions_match(string predictionType)
    {
        using var f = Fixture.Load("ddim_solver");
        using var scope = torch.NewDisposeScope();
        var cd = Build(f);
        var type = Predictions.Parse(predictionType);
        var alphas = torch.tensor(cd.AlphaSchedule);
        var sigmas = torch.tensor(cd.SigmaSchedule);
        var (output_, t, x) = (f.In("pred/model_output"), f.In("pred/timesteps"), f.In("pred/sample"));
        f.AssertClose(Predictions.OriginalSample(output_, t, x, type, alphas, sigmas), $"pred/x0_{predictionType}", Tol(f).F32);
        f.AssertClose(Predictions.Noise(output_, t, x, type, alphas, sigmas), $"pred/eps_{predictionType}", Tol(f).F32);
    }

    [Fact]
    public void Guidance_scale_embedding_matches_even_and_odd_dims()
    {
        using var f = Fixture.Load("ddim_solver");
        using var scope = torch.NewDisposeScope();
        var w = f.In("w_embed/w");
        var keys = f.Io.Keys.Where(k => Regex.IsMatch(k, @"^w_embed/emb\d+")).ToList();
        Assert.Contains(keys, k => (int)f.In(k).shape[1] % 2 == 1);
        foreach (var key in keys)
            f.AssertClose(Embeddings.Guidance(w, (int)f.In(key).shape[1]), key, Tol(f).F32);
    }

    [Fact]
    public void Boundary_scalings_at_start_and_end_timesteps_match()
    {
        using var f = Fixture.Load("ddim_solver");
        using var scope = torch.NewDisposeScope();
        var cd = Build(f);
        var start = f.In("bc/start_timesteps");
        var (startActual, endActual) = cd.Timesteps(torch.arange(start.shape[0], dtype: ScalarType.Int64));
        Assert.Equal(start.data<long>().ToArray(), startActual.data<long>().ToArray());
        Assert.Equal(f.In("bc/timesteps").data<long>().ToArray(), endActual.data<long>().ToArray());
        var (cSkipStart, cOutStart) = BoundaryScalings.Compute(start, timestepScaling: cd.TimestepScaling);
        var (cSkip, cOut) = BoundaryScalings.Compute(f.In("bc/timesteps"), timestepScaling: cd.TimestepScaling);
        double tol = Tol(f).F32;
        f.AssertClose(cSkipStart, "bc/c_skip_start", tol);
        f.AssertClose(cOutStart, "bc/c_out_start", tol);
        f.AssertClose(cSkip, "bc/c_skip", tol);
        f.AssertClose(cOut, "bc/c_out", tol);
    }

    [Fact]
    public void Pseudo_huber_and_l2_losses_match()
    {
        using var f = Fixture.Load("ddim_solver");
        using var scope = torch.NewDisposeScope();
        var (pred, target) = (f.In("loss/pred"), f.In("loss/target"));
        var hubers = f.Io.Keys.Where(k => k.StartsWith("loss/huber_c")).ToList();
        Assert.NotEmpty(hubers);
        foreach (var key in hubers)
        {
            double c = double.Parse(key["loss/huber_c".Length..], CultureInfo.InvariantCulture);
            AssertLoss(f, ConsistencyLosses.PseudoHuber(pred, target, c), key);
        }
        AssertLoss(f, ConsistencyLosses.L2(pred, target), "loss/l2_mse_mean");
    }

    [Fact]
    public void Add_noise_matches()
    {
        using var f = Fixture.Load("ddim_solver");
        using var scope = torch.NewDisposeScope();
        var cd = Build(f);
        var noisy = cd.Scheduler.AddNoise(f.In("add_noise/latents"), f.In("add_noise/noise"), f.In("add_noise/timesteps"));
        f.AssertClose(noisy, "add_noise/noisy", Tol(f).F32);
    }

    /// <summary>One distillation target computation as in train_t2v_turbo_v1_lora.py, network outputs given.</summary>
    [Fact]
    public void Consistency_distillation_step_matches()
    {
        using var f = Fixture.Load("ddim_solver");
        using var scope = torch.NewDisposeScope();
        var tol = Tol(f);
        var cd = Build(f);
        string K(string name) => $"cd_step/{name}";
        var index = f.In(K("index"));
        var (start, end) = cd.Timesteps(index);
        Assert.Equal(f.In(K("start_timesteps")).data<long>().ToArray(), start.data<long>().ToArray());
        Assert.Equal(f.In(K("timesteps")).data<long>().ToArray(), end.data<long>().ToArray());

        var latents = f.In(K("latents"));
        var noisy = cd.Scheduler.AddNoise(latents, f.In(K("noise")), start);
        f.AssertClose(noisy, K("noisy_model_input"), tol.F32);
        var w = cd.GuidanceScale(f.In(K("w_uniform01")));
        f.AssertClose(w, K("w"), tol.F32);
        int condDim = (int)Arg(f, "train_args_defaults", "unet_time_cond_proj_dim");
        f.AssertClose(Embeddings.Guidance(w, condDim), K("w_embedding"), tol.F32);

        // online student at the start timesteps (inputs from the fixture, so each check stands alone)
        noisy = f.In(K("noisy_model_input"));
        var studentEps = f.In(K("student_eps"));
        f.AssertClose(cd.PredictedOriginal(studentEps, start, noisy), K("student_pred_x0"), tol.F32);
        var modelPred = cd.ConsistencyOutput(noisy, start, studentEps);
        f.AssertClose(modelPred, K("model_pred"), tol.F32);

        // teacher CFG (LCM form) + one DDIM step → float64 x_prev
        var (cfgX0, cfgNoise, xPrev) = cd.TeacherStep(noisy, start, index, f.In(K("teacher_eps_cond")), f.In(K("teacher_eps_uncond")), f.In(K("w")));
        f.AssertClose(cfgX0, K("cfg_pred_x0"), tol.F32);
        f.AssertClose(cfgNoise, K("cfg_pred_noise"), tol.F32);
        Assert.Equal(ScalarType.Float64, xPrev.dtype);
        f.AssertClose(xPrev, K("x_prev_f64"), tol.F64);

        // target from the student's ε at the end timesteps on the float64 x_prev
        xPrev = f.In(K("x_prev_f64"));
        var targetEps = f.In(K("target_eps"));
        var targetX0 = cd.PredictedOriginal(targetEps, end, xPrev);
        Assert.Equal(ScalarType.Float64, targetX0.dtype);
        f.AssertClose(targetX0, K("target_pred_x0"), tol.F64);
        var target = cd.ConsistencyOutput(xPrev, end, targetEps);
        Assert.Equal(ScalarType.Float64, target.dtype);
        f.AssertClose(target, K("target"), tol.F64);

        double huberC = Arg(f, "train_args_defaults", "huber_c");
        AssertLoss(f, ConsistencyLosses.PseudoHuber(f.In(K("model_pred")), f.In(K("target")), huberC), K("loss_huber"));
        AssertLoss(f, ConsistencyLosses.L2(f.In(K("model_pred")), f.In(K("target"))), K("loss_l2"));
    }

    /// <summary>Losses: relative tolerance (config "losses").</summary>
    private void AssertLoss(Fixture f, Tensor loss, string name)
    {
        Assert.Equal(0, loss.dim());
        Assert.Equal(ScalarType.Float32, loss.dtype);
        var expected = f.In(name);
        double e = expected.to(ScalarType.Float64).flatten()[0].item<double>(), a = loss.to(ScalarType.Float64).item<double>();
        double rel = Math.Abs(a - e) / Math.Max(Math.Abs(e), 1e-30);
        f.AssertClose(loss.reshape(expected.shape), name, Tol(f).LossRelative * Math.Abs(e));
        output.WriteLine($"{name}: {a:R} vs {e:R}, rel err {rel:E2}");
        Assert.True(rel <= Tol(f).LossRelative, $"{name}: rel err {rel:E2}");
    }
}
