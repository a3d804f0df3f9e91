using T2VTurbo.IO;
using T2VTurbo.Models;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>Parity with VideoCrafter2's lvdm AutoencoderKL (first_stage_model) — fixture vae.</summary>
public class KlAutoencoderTests
{
    private const double Tol = 1e-4;

    private static KlAutoencoder LoadVae(Fixture f)
    {
        var vae = new KlAutoencoder(AutoencoderConfig.FromJson(f.Config));
        StateDictLoader.Load(vae, f.Weights, new LoadOptions { Prefix = f.Prefix, Strict = true });
        vae.eval();
        return vae;
    }

    [Fact]
    public void Config_reads_fixture_names()
    {
        using var f = Fixture.Load("vae");
        var cfg = AutoencoderConfig.FromJson(f.Config);
        var dd = f.Config["ddconfig"]!.AsObject();
        Assert.Equal(dd["ch"]!.GetValue<int>(), cfg.ch);
        Assert.Equal(dd["ch_mult"]!.AsArray().Select(x => x!.GetValue<int>()), cfg.ch_mult);
        Assert.Equal(dd["num_res_blocks"]!.GetValue<int>(), cfg.num_res_blocks);
        Assert.Equal(f.Config["embed_dim"]!.GetValue<int>(), cfg.embed_dim);
        Assert.Equal(f.Config["scale_factor"]!.GetValue<double>(), cfg.scale_factor);
    }

    [Fact]
    public void Encode_matches_reference()
    {
        using var f = Fixture.Load("vae");
        using var vae = LoadVae(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        using var posterior = vae.Encode(f.In("image"));
        f.AssertClose(posterior.Mean, "posterior_mean", Tol);
        f.AssertClose(posterior.LogVar, "posterior_logvar", Tol);
        Fixture.AssertClose(posterior.Std, (0.5 * f.In("posterior_logvar")).exp(), "vae/posterior_std", Tol);
        f.AssertClose(posterior.Sample(f.In("noise")), "posterior_sample", Tol);
    }

    [Fact]
    public void Encoder_intermediates_match_reference()
    {
        using var f = Fixture.Load("vae");
        using var vae = LoadVae(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var enc = vae.Encoder;
        var h = enc.ConvIn.forward(f.In("image"));
        for (int i = 0; i < enc.Down.Count; i++)
        {
            h = enc.Down[i].forward(h);
            f.AssertClose(h, $"enc_down_{i}_out", Tol);
        }
        h = enc.Mid.Block1.forward(h);
        f.AssertClose(h, "enc_mid_block_1", Tol);
        h = enc.Mid.Attn1.forward(h);
        f.AssertClose(h, "enc_mid_attn_1", Tol);
        h = enc.Mid.Block2.forward(h);
        f.AssertClose(h, "enc_mid_out", Tol);
        h = enc.Head(h);
        f.AssertClose(h, "encoder_out", Tol);
        f.AssertClose(vae.QuantConv.forward(h), "moments", Tol);
        // The whole encoder in one call, from the image.
        f.AssertClose(enc.forward(f.In("image")), "encoder_out", Tol);
    }

    [Fact]
    public void Decode_matches_reference()
    {
        using var f = Fixture.Load("vae");
        using var vae = LoadVae(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        f.AssertClose(vae.PostQuantConv.forward(f.In("latent")), "post_quant_conv_out", Tol);
        f.AssertClose(vae.Decode(f.In("latent")), "decoded", Tol);
    }

    [Fact]
    public void Decoder_intermediates_match_reference()
    {
        using var f = Fixture.Load("vae");
        using var vae = LoadVae(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var dec = vae.Decoder;
        int deepest = dec.Up.Count - 1;
        // The README promises the deepest level and level 0; others are checked when present.
        Assert.True(f.Has($"dec_up_{deepest}_out") && f.Has("dec_up_0_out"), $"vae fixture lacks dec_up_{deepest}_out / dec_up_0_out");
        var h = dec.ConvIn.forward(f.In("post_quant_conv_out"));
        f.AssertClose(h, "dec_conv_in", Tol);
        h = dec.Mid.forward(h);
        f.AssertClose(h, "dec_mid_out", Tol);
        for (int level = deepest; level >= 0; level--)   // up.{i} is indexed by resolution, run deepest first
        {
            h = dec.Up[level].forward(h);
            if (f.Has($"dec_up_{level}_out")) f.AssertClose(h, $"dec_up_{level}_out", Tol);
        }
        f.AssertClose(dec.Head(h), "decoded", Tol);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(1000)]
    public void DecodeVideo_matches_reference(int? frameChunk)
    {
        using var f = Fixture.Load("vae");
        using var vae = LoadVae(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var y = vae.DecodeVideo(f.In("video_latent"), frameChunk);
        Fixture.AssertClose(y, f.In("video_decoded"), $"vae/video_decoded (frameChunk {frameChunk?.ToString() ?? "all"})", Tol);
    }

    /// <summary>decode_first_stage_2DAE semantics (a loop over frames of z[:, :, i] / scale_factor) for a batch of 2, an
    /// odd frame count and a non-square latent, chunked and not.</summary>
    [Fact]
    public void DecodeVideo_equals_per_frame_decode_for_odd_frames_and_non_square_latents()
    {
        using var f = Fixture.Load("vae");
        using var vae = LoadVae(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var gen = new Generator(1234);
        long b = 2, t = 3, h = 5, w = 7;
        var latent = torch.randn(new long[] { b, vae.Config.embed_dim, t, h, w }, generator: gen);
        var perFrame = torch.stack(Enumerable.Range(0, (int)t)
            .Select(i => vae.Decode(latent.select(2, i) * (1.0 / vae.ScaleFactor))), 2);           // [B, 3, T, H, W]
        long f8 = vae.Config.DownFactor;
        Assert.Equal(new[] { b, vae.Config.out_ch, t, h * f8, w * f8 }, perFrame.shape);
        // Batched frames may differ from one-at-a-time decoding by float rounding only (vae_ms README: 6.7e-6).
        Fixture.AssertClose(vae.DecodeVideo(latent), perFrame, "vae/decode_video_vs_per_frame", 1e-5);
        Fixture.AssertClose(vae.DecodeVideo(latent, frameChunk: 4), perFrame, "vae/decode_video_vs_per_frame (frameChunk 4)", 1e-5);
    }

    /// <summary>No video-encode tensors in the fixture: the N fixture images become one video of N frames, whose
    /// latent must be scale_factor · (the reference's per-image posterior sample / mean), frame for frame.</summary>
    [Theory]
    [InlineData(null)]
    [InlineData(1)]
    public void EncodeVideo_is_scaled_per_frame_posterior(int? frameChunk)
    {
        using var f = Fixture.Load("vae");
        using var vae = LoadVae(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        static Tensor AsVideo(Tensor frames) => frames.unsqueeze(0).permute(0, 2, 1, 3, 4);   // [N, C, H, W] → [1, C, N, H, W]
        var video = AsVideo(f.In("image"));
        double s = vae.ScaleFactor;
        var sampled = vae.EncodeVideo(video, AsVideo(f.In("noise")), frameChunk);
        Fixture.AssertClose(sampled, s * AsVideo(f.In("posterior_sample")), $"vae/encode_video_sample (frameChunk {frameChunk?.ToString() ?? "all"})", Tol * s);
        var mean = vae.EncodeVideo(video, null, frameChunk);
        Fixture.AssertClose(mean, s * AsVideo(f.In("posterior_mean")), $"vae/encode_video_mean (frameChunk {frameChunk?.ToString() ?? "all"})", Tol * s);
    }

    [Fact]
    public void Bad_inputs_are_rejected_with_their_shape()
    {
        using var f = Fixture.Load("vae");
        using var vae = new KlAutoencoder(AutoencoderConfig.FromJson(f.Config));
        using var scope = torch.NewDisposeScope();
        var cfg = vae.Config;
        var ex = Assert.Throws<ArgumentException>(() => vae.Decode(torch.zeros(1, cfg.embed_dim + 1, 4, 4)));
        Assert.Contains($"[1, {cfg.embed_dim + 1}, 4, 4]", ex.Message);
        Assert.Throws<ArgumentException>(() => vae.DecodeVideo(torch.zeros(1, cfg.embed_dim, 4, 4)));
        Assert.Throws<ArgumentException>(() => vae.DecodeVideo(torch.zeros(new long[] { 1, cfg.embed_dim, 2, 4, 4 }), frameChunk: 0));
        Assert.Throws<ArgumentException>(() => vae.Encode(torch.zeros(1, cfg.in_channels + 1, 8, 8)));
        Assert.Throws<ArgumentException>(() => vae.EncodeVideo(torch.zeros(new long[] { 1, cfg.in_channels, 2, 8, 8 }), torch.zeros(new long[] { 1, cfg.embed_dim, 3, 2, 2 })));
        using var posterior = new DiagonalGaussianDistribution(torch.zeros(1, 2 * cfg.embed_dim, 2, 2));
        Assert.Throws<ArgumentException>(() => posterior.Sample(torch.zeros(1, cfg.embed_dim, 3, 2)));
    }

    [Fact]
    public void Logvar_is_clamped()
    {
        using var scope = torch.NewDisposeScope();
        var moments = torch.tensor(new float[] { 0, 0, -100, 100 }).reshape(1, 4, 1, 1);   // means 0, logvars −100 and 100
        using var posterior = new DiagonalGaussianDistribution(moments);
        Assert.Equal(new[] { -30f, 20f }, posterior.LogVar.flatten().data<float>().ToArray());
    }
}
