using System.Text.Json;
using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Models.ModelScope;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>Parity of the ModelScope 3-D UNet (t2v-turbo's model_scope UNet3DConditionModel on diffusers 0.27.2 blocks)
/// with fixture unet_ms_turbo: the student (time_cond_proj_dim) and the teacher (same file minus cond_proj), the final
/// outputs of every stored call and every stored intermediate.</summary>
public class UnetMsTests
{
    private const double Tol = 1e-4;
    private const string CondProjKey = "time_embedding.cond_proj.weight";

    /// <summary>io tensors that are call arguments (or what they were made from), not results.</summary>
    private static readonly HashSet<string> CallInputs =
    [
        "x", "timesteps", "encoder_hidden_states", "guidance_scale_w", "timestep_cond",
        "x_odd", "timesteps_odd", "encoder_hidden_states_odd", "guidance_scale_w_odd", "timestep_cond_odd",
    ];

    private static UnetMs Student(Fixture f)
    {
        var unet = UnetMs.FromConfig(f.Config);
        Assert.True(unet.HasCondProj, "fixture config has no time_cond_proj_dim: not the student");
        unet.LoadFrom(f.Weights, f.Prefix);
        unet.eval();
        return unet;
    }

    /// <summary>The teacher config (no time_cond_proj_dim) loaded strictly from the student file minus cond_proj.</summary>
    private static UnetMs Teacher(Fixture f)
    {
        var unet = UnetMs.FromConfig(f.Config["teacher_config"]!.AsObject());
        Assert.False(unet.HasCondProj);
        StateDictLoader.Load(unet, f.Weights, new LoadOptions { Prefix = f.Prefix, IgnoreUnexpected = [CondProjKey] });
        unet.eval();
        return unet;
    }

    [Fact]
    public void Student_output_and_every_intermediate_match_reference()
    {
        using var f = Fixture.Load("unet_ms_turbo");
        using var unet = Student(f);
        using var noGrad = torch.no_grad();
        var observed = new Dictionary<string, Tensor>();
        using var y = unet.forward(f.In("x"), f.In("timesteps"), f.In("encoder_hidden_states"), f.In("timestep_cond"), (name, t) =>
        {
            if (f.Has(name) && !observed.ContainsKey(name)) observed[name] = t.detach().clone().DetachFromDisposeScope();
        });
        f.AssertClose(y, "output", Tol);
        foreach (var (name, t) in observed.OrderBy(kv => kv.Key, StringComparer.Ordinal)) f.AssertClose(t, name, Tol);

        // Every stored intermediate of this call must have been produced (teacher ones are checked by the teacher test).
        var notCompared = f.Io.Keys.Where(k => !CallInputs.Contains(k) && !k.StartsWith("output", StringComparison.Ordinal)
                                               && !k.EndsWith("_teacher", StringComparison.Ordinal) && !observed.ContainsKey(k)).ToList();
        Assert.True(notCompared.Count == 0, $"{f.Name}: stored intermediates never produced by the forward: {string.Join(", ", notCompared)}");
        foreach (var t in observed.Values) t.Dispose();
    }

    [Fact]
    public void Teacher_output_and_time_embedding_match_reference()
    {
        using var f = Fixture.Load("unet_ms_turbo");
        using var unet = Teacher(f);
        using var noGrad = torch.no_grad();
        Tensor? emb = null;
        using var y = unet.forward(f.In("x"), f.In("timesteps"), f.In("encoder_hidden_states"), observe: (name, t) =>
        {
            if (name == "time_embedding_out") emb = t.detach().clone().DetachFromDisposeScope();
        });
        f.AssertClose(y, "output_teacher", Tol);
        Assert.NotNull(emb);
        f.AssertClose(emb!, "time_embedding_out_teacher", Tol);
        emb!.Dispose();
        var e = Assert.Throws<ArgumentException>(() => unet.forward(f.In("x"), f.In("timesteps"), f.In("encoder_hidden_states"), f.In("timestep_cond")));
        Assert.Contains("no time_embedding.cond_proj", e.Message);
    }

    [Fact]
    public void Student_without_condition_equals_the_teacher_output()
    {
        using var f = Fixture.Load("unet_ms_turbo");
        using var unet = Student(f);
        using var noGrad = torch.no_grad();
        using var y = unet.forward(f.In("x"), f.In("timesteps"), f.In("encoder_hidden_states"));
        f.AssertClose(y, "output_no_cond", Tol);
        f.AssertClose(y, "output_teacher", Tol);
    }

    [Fact]
    public void Single_frame_path_skips_temporal_layers_except_the_mid_blocks_first_temp_conv()
    {
        using var f = Fixture.Load("unet_ms_turbo");
        using var unet = Student(f);
        using var noGrad = torch.no_grad();
        using var x1 = f.In("x")[.., .., ..1];                                        // [B, C, 1, h, w]
        using var y = unet.forward(x1, f.In("timesteps"), f.In("encoder_hidden_states"), f.In("timestep_cond"));
        f.AssertClose(y, "output_single_frame", Tol);
    }

    [Fact]
    public void Latent_not_divisible_by_the_upsampling_factor_uses_forced_upsample_sizes()
    {
        using var f = Fixture.Load("unet_ms_turbo");
        using var unet = Student(f);
        using var noGrad = torch.no_grad();
        using var y = unet.forward(f.In("x_odd"), f.In("timesteps_odd"), f.In("encoder_hidden_states_odd"), f.In("timestep_cond_odd"));
        f.AssertClose(y, "output_odd", Tol);
    }

    [Fact]
    public void Timestep_as_a_plain_int_is_expanded_to_the_batch()
    {
        using var f = Fixture.Load("unet_ms_turbo");
        using var unet = Student(f);
        using var noGrad = torch.no_grad();
        long t0 = f.In("timesteps")[0].item<long>();
        using var y = unet.forward(f.In("x"), t0, f.In("encoder_hidden_states"), f.In("timestep_cond"));
        f.AssertClose(y, "output_scalar_timestep", Tol);
        using var y0d = unet.forward(f.In("x"), torch.tensor(t0), f.In("encoder_hidden_states"), f.In("timestep_cond"));
        f.AssertClose(y0d, "output_scalar_timestep", Tol);
    }

    [Fact]
    public void Bfloat16_model_stays_close_to_float32_reference()
    {
        using var f = Fixture.Load("unet_ms_turbo");
        using var unet = Student(f);
        unet.to(ScalarType.BFloat16);
        Assert.All(unet.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        using var noGrad = torch.no_grad();
        using var y = unet.forward(f.In("x"), f.In("timesteps"), f.In("encoder_hidden_states"), f.In("timestep_cond"));
        Assert.Equal(ScalarType.Float32, y.dtype);
        // bfloat16 keeps 8 mantissa bits (relative step 2^-8 per rounding): a few percent of the output range catches
        // a wrong path (outputs are O(1)) without asserting float32 accuracy.
        double range = f.In("output").abs().max().item<float>();
        Fixture.AssertClose(y, f.In("output"), $"{f.Name}/output (bfloat16 model)", 0.05 * range);
    }

    [Fact]
    public void Every_stored_output_is_covered_by_a_test()
    {
        using var f = Fixture.Load("unet_ms_turbo");
        string[] covered = ["output", "output_teacher", "output_no_cond", "output_single_frame", "output_odd", "output_scalar_timestep"];
        var uncovered = f.Io.Keys.Where(k => k.StartsWith("output", StringComparison.Ordinal) && !covered.Contains(k)).ToList();
        Assert.True(uncovered.Count == 0, $"{f.Name}: outputs without a test: {string.Join(", ", uncovered)}");
        var absent = covered.Where(k => !f.Has(k)).ToList();
        Assert.True(absent.Count == 0, $"{f.Name}: expected outputs missing from io.safetensors: {string.Join(", ", absent)}");
    }

    [Fact]
    public void Config_reads_fixture_and_real_values()
    {
        using var f = Fixture.Load("unet_ms_turbo");
        var tiny = UnetMsConfig.FromJson(f.Config);
        Assert.Equal(f.IntList("block_out_channels"), tiny.block_out_channels);
        Assert.Equal(f.Config["layers_per_block"]!.GetValue<long>(), tiny.layers_per_block);
        Assert.Equal(f.Config["attention_head_dim"]!.GetValue<long>(), tiny.attention_head_dim);
        Assert.Equal(f.Config["cross_attention_dim"]!.GetValue<long>(), tiny.cross_attention_dim);
        Assert.Equal(f.Config["time_cond_proj_dim"]!.GetValue<long>(), tiny.time_cond_proj_dim);
        Assert.Equal(f.Config["down_block_types"]!.AsArray().Select(x => x!.GetValue<string>()), tiny.down_block_types);
        Assert.Equal(f.Config["up_block_types"]!.AsArray().Select(x => x!.GetValue<string>()), tiny.up_block_types);
        Assert.Null(UnetMsConfig.FromJson(f.Config["teacher_config"]!.AsObject()).time_cond_proj_dim);

        // The real unet/config.json is the default (teacher); the student adds time_cond_proj_dim 256.
        var real = UnetMsConfig.FromJson(f.Config["real_unet_config"]!.AsObject());
        Assert.Equal(Json(new UnetMsConfig()), Json(real));
        var realStudent = real with { time_cond_proj_dim = f.Config["real_student_extra"]!["time_cond_proj_dim"]!.GetValue<long>() };
        Assert.Equal(Json(UnetMsConfig.Turbo), Json(realStudent));
    }

    private static string Json(UnetMsConfig c) => JsonSerializer.Serialize(c);

    [Fact]
    public void Bad_inputs_and_unsupported_settings_fail_with_clear_errors()
    {
        using var f = Fixture.Load("unet_ms_turbo");
        var cfg = UnetMsConfig.FromJson(f.Config);
        Assert.Contains("down_block_types", Assert.Throws<NotSupportedException>(() => new UnetMs(cfg with { down_block_types = ["DownBlock2D", .. cfg.down_block_types[1..]] })).Message);
        Assert.Contains("act_fn", Assert.Throws<NotSupportedException>(() => new UnetMs(cfg with { act_fn = "gelu" })).Message);
        var listHeads = f.Config.DeepClone().AsObject();
        listHeads["attention_head_dim"] = new JsonArray(8, 8);
        Assert.Contains("attention_head_dim", Assert.Throws<NotSupportedException>(() => UnetMsConfig.FromJson(listHeads)).Message);

        using var unet = Student(f);
        using var noGrad = torch.no_grad();
        var (x, t, ehs, tc) = (f.In("x"), f.In("timesteps"), f.In("encoder_hidden_states"), f.In("timestep_cond"));
        Assert.Contains("x must be", Assert.Throws<ArgumentException>(() => unet.forward(x[.., ..1], t, ehs, tc)).Message);
        Assert.Contains("encoderHiddenStates must be", Assert.Throws<ArgumentException>(() => unet.forward(x, t, ehs[..1], tc)).Message);
        Assert.Contains("timesteps must be", Assert.Throws<ArgumentException>(() => unet.forward(x, torch.zeros(x.shape[0] + 1, dtype: ScalarType.Int64), ehs, tc)).Message);
        Assert.Contains("timestepCond must be", Assert.Throws<ArgumentException>(() => unet.forward(x, t, ehs, tc[.., ..3])).Message);
    }
}
