using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Models;
using T2VTurbo.Models.ModelScope;
using T2VTurbo.Tests.Support;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>The ModelScope VAE (diffusers AutoencoderKL) = our lvdm KlAutoencoder under diffusers names — fixture vae_ms.</summary>
public class MsVaeTests
{
    private const double Tol = 1e-4;

    private static KlAutoencoder LoadVae(Fixture f) => DiffusersVae.Load(f.Config, f.Weights, f.Prefix);

    /// <summary>The fixture's weights with the mid-block attention under diffusers ≤ 0.16 names (as the released HF
    /// files carry them).</summary>
    internal static Dictionary<string, Tensor> LegacyNamed(ICheckpointSource weights) =>
        weights.Keys.ToDictionary(k => k.Replace(".to_q.", ".query.").Replace(".to_k.", ".key.").Replace(".to_v.", ".value.")
                                        .Replace(".to_out.0.", ".proj_attn."), k => weights.Load(k));

    [Fact]
    public void Config_reads_diffusers_names()
    {
        using var f = Fixture.Load("vae_ms");
        var cfg = DiffusersVae.ConfigFromJson(f.Config);
        var blockOut = f.IntList("block_out_channels");
        Assert.Equal(blockOut[0], cfg.ch);
        Assert.Equal(blockOut.Select(c => (int)(c / blockOut[0])), cfg.ch_mult);
        Assert.Equal(f.Config["layers_per_block"]!.GetValue<int>(), cfg.num_res_blocks);
        Assert.Equal(f.Config["latent_channels"]!.GetValue<int>(), cfg.z_channels);
        Assert.Equal(f.Config["latent_channels"]!.GetValue<int>(), cfg.embed_dim);
        Assert.Equal(f.Config["norm_num_groups"]!.GetValue<int>(), cfg.norm_num_groups);
        Assert.Equal(f.Config["scaling_factor"]!.GetValue<double>(), cfg.scale_factor);
        Assert.Equal(f.Config["in_channels"]!.GetValue<int>(), cfg.in_channels);
        Assert.Equal(f.Config["out_channels"]!.GetValue<int>(), cfg.out_ch);
        Assert.Empty(cfg.attn_resolutions);
        Assert.Equal(1e-6, cfg.norm_eps);
    }

    /// <summary>The real MS vae/config.json describes exactly VideoCrafter2's first stage (the defaults).</summary>
    [Fact]
    public void Real_ms_config_is_the_videocrafter2_vae()
    {
        using var f = Fixture.Load("vae_ms");
        var real = DiffusersVae.ConfigFromJson(f.Config["real_vae_config"]!.AsObject());
        var vc2 = new AutoencoderConfig();
        Assert.Equal(vc2.ToString(), real.ToString());
        Assert.Equal(vc2.scale_factor, real.scale_factor);
        Assert.Equal(vc2.norm_eps, real.norm_eps);
        Assert.Equal(vc2.norm_num_groups, real.norm_num_groups);
    }

    [Fact]
    public void Key_map_is_the_fixture_table()
    {
        using var f = Fixture.Load("vae_ms");
        var table = f.Config["diffusers_to_lvdm_key_map"]!.AsObject();
        int levels = f.IntList("block_out_channels").Length;
        var wrong = table.Where(kv => DiffusersVaeKeys.ToLvdm(kv.Key, levels) != kv.Value!.GetValue<string>())
            .Select(kv => $"{kv.Key} -> {DiffusersVaeKeys.ToLvdm(kv.Key, levels) ?? "null"} (expected {kv.Value})").ToList();
        Assert.True(wrong.Count == 0, $"{wrong.Count} of {table.Count} names map wrongly:\n  " + string.Join("\n  ", wrong.Take(20)));
        // The wrapped weights present exactly the table's lvdm names, and the decoder-level count is found from the keys.
        using var mapped = new DiffusersVaeSource(f.Weights);
        Assert.Equal(table.Select(kv => kv.Value!.GetValue<string>()).OrderBy(k => k, StringComparer.Ordinal),
                     mapped.Keys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.Equal(levels, DiffusersVaeKeys.CountDecoderLevels(f.Weights.Keys));
        Assert.Null(DiffusersVaeKeys.ToLvdm("decoder.up_blocks.0.attentions.0.to_q.weight", levels));
    }

    [Fact]
    public void Encode_matches_reference()
    {
        using var f = Fixture.Load("vae_ms");
        using var vae = LoadVae(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        using var posterior = vae.Encode(f.In("image"));
        f.AssertClose(posterior.Mean, "posterior_mean", Tol);
        f.AssertClose(posterior.LogVar, "posterior_logvar", Tol);
        f.AssertClose(posterior.Std, "posterior_std", Tol);
        f.AssertClose(posterior.Sample(f.In("noise")), "posterior_sample", Tol);
    }

    [Fact]
    public void Encoder_intermediates_match_reference()
    {
        using var f = Fixture.Load("vae_ms");
        using var vae = LoadVae(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var enc = vae.Encoder;
        var h = enc.ConvIn.forward(f.In("image"));
        f.AssertClose(h, "enc_conv_in_out", Tol);
        for (int i = 0; i < enc.Down.Count; i++)
        {
            h = enc.Down[i].forward(h);                                   // down_blocks.i incl. its downsampler
            f.AssertClose(h, $"enc_down_block_{i}_out", Tol);
        }
        h = enc.Mid.forward(h);
        f.AssertClose(h, "enc_mid_block_out", Tol);
        h = enc.Head(h);
        f.AssertClose(h, "encoder_out", Tol);
        f.AssertClose(vae.QuantConv.forward(h), "moments", Tol);
    }

    [Fact]
    public void Decode_matches_reference()
    {
        using var f = Fixture.Load("vae_ms");
        using var vae = LoadVae(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        f.AssertClose(vae.PostQuantConv.forward(f.In("latent")), "post_quant_conv_out", Tol);
        f.AssertClose(vae.Decode(f.In("latent")), "decoded", Tol);
    }

    [Fact]
    public void Decoder_intermediates_match_reference()
    {
        using var f = Fixture.Load("vae_ms");
        using var vae = LoadVae(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var dec = vae.Decoder;
        int n = dec.Up.Count;
        var h = dec.ConvIn.forward(f.In("post_quant_conv_out"));
        f.AssertClose(h, "dec_conv_in_out", Tol);
        h = dec.Mid.forward(h);
        f.AssertClose(h, "dec_mid_block_out", Tol);
        for (int i = 0; i < n; i++)   // diffusers up_blocks.i (run order, deepest first) = lvdm up.(n−1−i)
        {
            h = dec.Up[n - 1 - i].forward(h);
            f.AssertClose(h, $"dec_up_block_{i}_out", Tol);
        }
        var normOut = (GroupNorm)vae.named_modules().Single(m => m.name == "decoder.norm_out").module;
        f.AssertClose(normOut.forward(h), "dec_conv_norm_out_out", Tol);
        f.AssertClose(dec.Head(h), "decoded", Tol);
    }

    [Fact]
    public void Reconstruction_matches_reference()
    {
        using var f = Fixture.Load("vae_ms");
        using var vae = LoadVae(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        f.AssertClose(vae.forward(f.In("image")), "reconstruction", Tol);   // encode → mode → decode
    }

    /// <summary>T2VTurboMSPipeline: z = latents / scaling_factor; cat([vae.decode(z[:, :, i]) for i], dim=2). Our
    /// DecodeVideo folds frames into the batch (same up to float rounding), chunked or not.</summary>
    [Fact]
    public void Ms_pipeline_video_decode_matches_reference()
    {
        using var f = Fixture.Load("vae_ms");
        using var vae = LoadVae(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var latent = f.In("video_latent");                                        // [B, 4, T, h, w]
        var z = latent / f.Config["scaling_factor"]!.GetValue<double>();
        var perFrame = torch.stack(Enumerable.Range(0, (int)z.shape[2]).Select(i => vae.Decode(z.select(2, i))), 2);   // [B, 3, T, H, W]
        f.AssertClose(perFrame, "video_decoded", Tol);
        foreach (int? chunk in new int?[] { null, 1, 2 })
            Fixture.AssertClose(vae.DecodeVideo(latent, chunk), f.In("video_decoded"), $"vae_ms/video_decoded (DecodeVideo, frameChunk {chunk?.ToString() ?? "all"})", Tol);
    }

    [Fact]
    public void Legacy_attention_names_load_the_same_weights()
    {
        using var f = Fixture.Load("vae_ms");
        using var scope = torch.NewDisposeScope();
        var legacy = LegacyNamed(f.Weights);
        Assert.Contains(legacy.Keys, k => k.EndsWith(".mid_block.attentions.0.proj_attn.weight", StringComparison.Ordinal));
        Assert.Contains(legacy.Keys, k => k.EndsWith(".mid_block.attentions.0.query.bias", StringComparison.Ordinal));
        using var src = new TensorDictSource(legacy, "legacy names");
        using var vae = DiffusersVae.Load(f.Config, src);
        using var current = LoadVae(f);
        var a = vae.state_dict();
        foreach (var (k, t) in current.state_dict()) Assert.True(t.equal(a[k]).all().item<bool>(), $"{k} differs between legacy and current names");
        using var _ = torch.no_grad();
        f.AssertClose(vae.Decode(f.In("latent")), "decoded", Tol);
    }

    [Fact]
    public void Mixed_missing_or_unknown_names_fail_naming_the_key()
    {
        using var f = Fixture.Load("vae_ms");
        using var scope = torch.NewDisposeScope();
        var weights = f.Weights.Keys.ToDictionary(k => k, k => f.Weights.Load(k));
        var q = weights.Keys.First(k => k.EndsWith("attentions.0.to_q.weight", StringComparison.Ordinal));

        var mixed = new Dictionary<string, Tensor>(weights) { [q.Replace(".to_q.", ".query.")] = weights[q] };
        var ex = Assert.Throws<InvalidDataException>(() => new DiffusersVaeSource(new TensorDictSource(mixed)));
        Assert.Contains(q, ex.Message);

        var missing = new Dictionary<string, Tensor>(weights);
        missing.Remove(q);
        var ex2 = Assert.Throws<StateDictMismatchException>(() => DiffusersVae.Load(f.Config, new TensorDictSource(missing)));
        Assert.Contains("missing", ex2.Message);
        Assert.Single(ex2.Missing);

        var extra = new Dictionary<string, Tensor>(weights) { ["decoder.up_blocks.0.attentions.0.to_q.weight"] = weights[q] };
        var ex3 = Assert.Throws<StateDictMismatchException>(() => DiffusersVae.Load(f.Config, new TensorDictSource(extra)));
        Assert.Contains("decoder.up_blocks.0.attentions.0.to_q.weight", ex3.Message);

        // A VAE with more decoder levels than the config is an error before any tensor is read.
        int levels = f.IntList("block_out_channels").Length;
        var ex4 = Assert.Throws<ArgumentException>(() => new DiffusersVaeSource(new TensorDictSource(weights), levels - 1));
        Assert.Contains($"decoder.up_blocks.{levels - 1}", ex4.Message);
    }

    [Fact]
    public void Unsupported_configs_are_rejected()
    {
        using var f = Fixture.Load("vae_ms");
        JsonObject With(string name, JsonNode value)
        {
            var c = f.Config.DeepClone().AsObject();
            c[name] = value;
            return c;
        }
        int n = f.IntList("block_out_channels").Length;
        var attnDown = new JsonArray(Enumerable.Range(0, n).Select(i => (JsonNode)(i == 0 ? "AttnDownEncoderBlock2D" : "DownEncoderBlock2D")).ToArray());
        Assert.Contains("AttnDownEncoderBlock2D", Assert.Throws<NotSupportedException>(() => DiffusersVae.ConfigFromJson(With("down_block_types", attnDown))).Message);
        Assert.Contains("act_fn", Assert.Throws<NotSupportedException>(() => DiffusersVae.ConfigFromJson(With("act_fn", "gelu"))).Message);
        Assert.Contains("multiples", Assert.Throws<ArgumentException>(() => DiffusersVae.ConfigFromJson(With("block_out_channels", new JsonArray(64, 96)))).Message);
    }
}

/// <summary>The full-size MS VAE keys (shared/reference/modelscope_t2v_keys.json, component "vae"), in both attention
/// spellings, map onto exactly our full-size KlAutoencoder's state dict, with the lvdm names and shapes the reference lists.</summary>
[Collection(MetaDevice.Collection)]
public class MsVaeFullSizeKeysTests
{
    private static (JsonObject Config, List<JsonObject> Keys) Reference()
    {
        var path = Path.Combine(ReferenceKeys.Root, ReferenceKeys.ModelScope);
        Assert.True(File.Exists(path), $"reference key list is missing: {path}");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var keys = json["keys"]!.AsArray().Select(n => n!.AsObject()).Where(n => n["component"]?.GetValue<string>() == "vae").ToList();
        return (json["config"]!["vae"]!.AsObject(), keys);
    }

    private static long[] Shape(JsonNode n) => n.AsArray().Select(x => x!.GetValue<long>()).ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Ms_vae_keys_cover_exactly_the_KlAutoencoder(bool legacyNames)
    {
        var (config, refKeys) = Reference();
        Assert.NotEmpty(refKeys);
        var diffusersKeys = refKeys.Select(n => new ReferenceKey(
            legacyNames ? n["legacy_diffusers_key"]?.GetValue<string>() ?? n["key"]!.GetValue<string>() : n["key"]!.GetValue<string>(),
            Shape(n["shape"]!))).ToList();
        using var vae = MetaDevice.Build(() => new KlAutoencoder(DiffusersVae.ConfigFromJson(config)));
        using var mapped = new DiffusersVaeSource(new ShapeOnlySource(diffusersKeys, ReferenceKeys.ModelScope));

        var expected = mapped.Keys.ToDictionary(k => k, mapped.Shape, StringComparer.Ordinal);
        var actual = vae.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);
        var missing = actual.Keys.Except(expected.Keys).ToList();
        var unexpected = expected.Keys.Except(actual.Keys).ToList();
        var shapes = expected.Where(kv => actual.TryGetValue(kv.Key, out var s) && !s.SequenceEqual(kv.Value)).Select(kv => kv.Key).ToList();
        Assert.True(missing.Count + unexpected.Count + shapes.Count == 0,
            $"module keys not provided: {string.Join(", ", missing.Take(10))}; mapped keys not in the module: {string.Join(", ", unexpected.Take(10))}; " +
            $"shape mismatches: {string.Join(", ", shapes.Take(10))}");
        Assert.Equal(refKeys.Count, actual.Count);

        // The reference's own lvdm names / shapes agree with the mapping.
        foreach (var (n, d) in refKeys.Zip(diffusersKeys))
        {
            string lvdm = n["lvdm_key"]!.GetValue<string>();
            Assert.StartsWith("first_stage_model.", lvdm);
            Assert.Equal(lvdm["first_stage_model.".Length..], DiffusersVaeKeys.ToLvdm(d.Key, vae.Config.NumResolutions));
            Assert.Equal(Shape(n["lvdm_shape"] ?? n["shape"]!), mapped.Shape(lvdm["first_stage_model.".Length..]));
        }

        // And the strict loader accepts it (META tensors: names and shapes only).
        var report = StateDictLoader.Load(vae, mapped, new LoadOptions { Strict = true });
        Assert.Equal(actual.Count, report.Loaded.Count);
    }
}
