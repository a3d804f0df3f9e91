using System.Text.Json;
using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Models.Unet;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>Parity of the VideoCrafter2 3-D UNet (and the T2V-Turbo student conditioning) with the reference
/// fixtures unet_vc2 and unet_vc2_turbo: final outputs and every intermediate the fixture stores.</summary>
public class UnetTests
{
    private const double Tol = 1e-4;

    /// <summary>io tensors that are call arguments (or what the arguments were made from), not results.</summary>
    private static readonly HashSet<string> CallInputs = ["x", "timesteps", "context", "fps", "guidance_scale_w", "motion_gs", "timestep_cond", "motion_cond"];

    private static Unet3D LoadUnet(Fixture f)
    {
        var unet = Unet3D.FromConfig(f.Config);
        unet.LoadFrom(f.Weights, f.Prefix);
        unet.eval();
        return unet;
    }

    /// <summary>Runs the call, compares `output` and every intermediate the fixture has, and requires that every
    /// stored result was compared.</summary>
    private static void AssertFullCallMatches(Fixture f, Func<Unet3D, Action<string, Tensor>, Tensor> call)
    {
        using var unet = LoadUnet(f);
        using var noGrad = torch.no_grad();
        var observed = new Dictionary<string, Tensor>();
        var y = call(unet, (name, t) =>
        {
            if (f.Has(name) && !observed.ContainsKey(name)) observed[name] = t.detach().clone().DetachFromDisposeScope();
        });
        f.AssertClose(y, "output", Tol);
        foreach (var (name, t) in observed.OrderBy(kv => kv.Key, StringComparer.Ordinal)) f.AssertClose(t, name, Tol);

        var notCompared = f.Io.Keys.Where(k => !CallInputs.Contains(k) && !k.StartsWith("output", StringComparison.Ordinal) || k.StartsWith("output_block_", StringComparison.Ordinal))
            .Where(k => !observed.ContainsKey(k)).ToList();
        Assert.True(notCompared.Count == 0, $"{f.Name}: stored results never produced by the forward: {string.Join(", ", notCompared)}");
        foreach (var t in observed.Values) t.Dispose();
        y.Dispose();
    }

    [Fact]
    public void Vc2_output_and_intermediates_match_reference()
    {
        using var f = Fixture.Load("unet_vc2");
        AssertFullCallMatches(f, (unet, observe) => unet.forward(f.In("x"), f.In("timesteps"), f.In("context"), f.In("fps"), observe: observe));
    }

    [Fact]
    public void Vc2_int_fps_matches_reference()
    {
        using var f = Fixture.Load("unet_vc2");
        using var unet = LoadUnet(f);
        using var noGrad = torch.no_grad();
        using var y = unet.forward(f.In("x"), f.In("timesteps"), f.In("context"), 16L);
        f.AssertClose(y, "output_fps_int16", Tol);
        using var yDefault = unet.forward(f.In("x"), f.In("timesteps"), f.In("context"));
        f.AssertClose(yDefault, "output_fps_int16", Tol);
    }

    [Fact]
    public void Turbo_v2_output_and_intermediates_match_reference()
    {
        using var f = Fixture.Load("unet_vc2_turbo");
        AssertFullCallMatches(f, (unet, observe) => unet.forward(f.In("x"), f.In("timesteps"), f.In("context"), f.In("fps"),
            f.In("timestep_cond"), f.In("motion_cond"), observe));
    }

    [Fact]
    public void Turbo_partial_conditioning_matches_reference()
    {
        using var f = Fixture.Load("unet_vc2_turbo");
        using var unet = LoadUnet(f);
        using var noGrad = torch.no_grad();
        var (x, t, ctx, fps) = (f.In("x"), f.In("timesteps"), f.In("context"), f.In("fps"));
        using (var y = unet.forward(x, t, ctx, fps, f.In("timestep_cond"))) f.AssertClose(y, "output_no_motion_cond", Tol);
        using (var y = unet.forward(x, t, ctx, fps)) f.AssertClose(y, "output_no_cond", Tol);
        using (var y = unet.forward(x, t, ctx, 16L, f.In("timestep_cond"), f.In("motion_cond"))) f.AssertClose(y, "output_fps_int16", Tol);
    }

    [Fact]
    public void Bfloat16_model_stays_close_to_float32_reference()
    {
        using var f = Fixture.Load("unet_vc2_turbo");
        using var unet = LoadUnet(f);
        unet.to(ScalarType.BFloat16);
        Assert.All(unet.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        using var noGrad = torch.no_grad();
        using var y = unet.forward(f.In("x"), f.In("timesteps"), f.In("context"), f.In("fps"), f.In("timestep_cond"), f.In("motion_cond"));
        Assert.Equal(ScalarType.Float32, y.dtype);
        // bfloat16 keeps 8 mantissa bits (relative step 2^-8 ≈ 4e-3 per rounding): a bound of a few percent of the
        // output range catches a wrong path (outputs are O(1)) without asserting float32 accuracy.
        double range = f.In("output").abs().max().item<float>();
        Fixture.AssertClose(y, f.In("output"), $"{f.Name}/output (bfloat16 model)", 0.05 * range);
    }

    [Fact]
    public void Config_reads_fixture_and_real_values()
    {
        using var f = Fixture.Load("unet_vc2_turbo");
        var tiny = UnetConfig.FromJson(f.Config);
        Assert.Equal(f.Config["model_channels"]!.GetValue<long>(), tiny.model_channels);
        Assert.Equal(f.IntList("channel_mult"), tiny.channel_mult);
        Assert.Equal(f.IntList("attention_resolutions"), tiny.attention_resolutions);
        Assert.Equal(f.Config["time_cond_proj_dim"]!.GetValue<long>(), tiny.time_cond_proj_dim);
        Assert.Equal(f.Config["motion_cond_proj_dim"]!.GetValue<long>(), tiny.motion_cond_proj_dim);

        // The real configs equal the presets up to use_checkpoint (numerically neutral); the yaml "params" form reads the same.
        var real = UnetConfig.FromJson(f.Config["real_unet_config"]!.AsObject());
        Assert.Equal(Json(UnetConfig.Turbo with { use_checkpoint = real.use_checkpoint }), Json(real));
        var yaml = new JsonObject { ["target"] = "lvdm.modules.networks.openaimodel3d.UNetModel", ["params"] = f.Config["real_unet_config"]!.DeepClone() };
        Assert.Equal(Json(real), Json(UnetConfig.FromJson(yaml)));

        using var teacher = Fixture.Load("unet_vc2");
        var realTeacher = UnetConfig.FromJson(teacher.Config["real_unet_config"]!.AsObject());
        Assert.Equal(Json(new UnetConfig { use_checkpoint = realTeacher.use_checkpoint }), Json(realTeacher));
    }

    private static string Json(UnetConfig c) => JsonSerializer.Serialize(c);

    [Fact]
    public void Bad_inputs_and_unsupported_switches_fail_with_clear_errors()
    {
        using var f = Fixture.Load("unet_vc2");
        var relativePosition = UnetConfig.FromJson(f.Config) with { use_relative_position = true };
        var unsupported = Assert.Throws<NotSupportedException>(() => new Unet3D(relativePosition));
        Assert.Contains("use_relative_position", unsupported.Message);
        using var unet = LoadUnet(f);
        using var noGrad = torch.no_grad();
        var (x, t, ctx) = (f.In("x"), f.In("timesteps"), f.In("context"));
        var e = Assert.Throws<ArgumentException>(() => unet.forward(x[.., ..1], t, ctx));
        Assert.Contains("x must be", e.Message);
        e = Assert.Throws<ArgumentException>(() => unet.forward(x, t, ctx[..1]));
        Assert.Contains("context must be", e.Message);
        e = Assert.Throws<ArgumentException>(() => unet.forward(x, t, ctx, timestepCond: torch.zeros(x.shape[0], 256)));
        Assert.Contains("no time_cond_proj", e.Message);
        e = Assert.Throws<ArgumentException>(() => unet.forward(x, torch.zeros(3, dtype: ScalarType.Int64), ctx));
        Assert.Contains("timesteps must be", e.Message);
    }

    [Fact]
    public void Frame_layout_paths_equal_the_reference_layout_and_shared_context_equals_repeated_context()
    {
        // Sizes from the fixture config, random weights: the UNet's (B·T)-frame fast paths must equal the blocks'
        // reference [B, C, T, h, w] calls, and a context shared per video must equal the reference's repeat_interleave.
        using var f = Fixture.Load("unet_vc2");
        var cfg = UnetConfig.FromJson(f.Config);
        long b = 2, t = 3, h = 5, w = 4, c = cfg.model_channels, heads = c / cfg.num_head_channels;
        using var noGrad = torch.no_grad();
        torch.manual_seed(7);
        var x5 = torch.randn([b, c, t, h, w]);
        var frames = x5.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w);                // [(B·T), C, h, w]
        static Tensor ToFrames(Tensor y, long b, long t) => y.permute(0, 2, 1, 3, 4).reshape(b * t, y.shape[1], y.shape[3], y.shape[4]);

        using var temporal = new TemporalTransformer(c, heads, cfg.num_head_channels, 1, cfg.use_linear, 0.0);
        RandomiseZeroInitialised(temporal);
        var viaFrames = temporal.ForwardFrames(frames, b);
        Assert.True(viaFrames.is_contiguous());
        Fixture.AssertClose(viaFrames, ToFrames(temporal.forward(x5), b, t), "TemporalTransformer frames vs [B,C,T,h,w]", 1e-5);

        using var initAttn = new TemporalTransformer(c, 8, cfg.num_head_channels, 1, false, 0.0);   // Conv1d projections
        RandomiseZeroInitialised(initAttn);
        Fixture.AssertClose(initAttn.ForwardFrames(frames, b), ToFrames(initAttn.forward(x5), b, t), "init_attn frames vs [B,C,T,h,w]", 1e-5);

        using var tconv = new TemporalConvBlock(c, c, 0.1);
        tconv.eval();
        RandomiseZeroInitialised(tconv);
        var convFrames = tconv.ForwardFrames(frames, b);
        Assert.True(convFrames.is_contiguous());
        Fixture.AssertClose(convFrames, ToFrames(tconv.forward(x5), b, t), "TemporalConvBlock frames vs [B,C,T,h,w]", 1e-5);

        using var spatial = new SpatialTransformer(c, heads, cfg.num_head_channels, 1, cfg.context_dim, cfg.use_linear, 0.0);
        RandomiseZeroInitialised(spatial);
        var context = torch.randn(b, 7, cfg.context_dim);
        var shared = spatial.forward(frames, context);
        Assert.True(shared.is_contiguous());
        Fixture.AssertClose(shared, spatial.forward(frames, context.repeat_interleave(t, 0)), "SpatialTransformer shared vs repeated context", 1e-5);
    }

    /// <summary>proj_out and the last temporal conv start at zero in the reference; give them values so the branch counts.</summary>
    private static void RandomiseZeroInitialised(nn.Module m)
    {
        using var noGrad = torch.no_grad();
        foreach (var p in m.parameters()) p.copy_(torch.randn_like(p) * 0.2);
    }
}
