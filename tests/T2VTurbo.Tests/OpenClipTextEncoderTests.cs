using T2VTurbo.IO;
using T2VTurbo.Tests.Support;
using T2VTurbo.Text;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>Parity with VideoCrafter2's FrozenOpenCLIPEmbedder(layer="penultimate") — fixture openclip_text.</summary>
public class OpenClipTextEncoderTests
{
    private const double Tol = 1e-4;

    private static OpenClipTextEncoder LoadEncoder(Fixture f)
    {
        var enc = new OpenClipTextEncoder(OpenClipTextConfig.FromJson(f.Config));
        StateDictLoader.Load(enc, f.Weights, new LoadOptions { Prefix = f.Prefix, Strict = true });
        enc.eval();
        return enc;
    }

    [Fact]
    public void Output_matches_reference()
    {
        using var f = Fixture.Load("openclip_text");
        using var enc = LoadEncoder(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        f.AssertClose(enc.forward(f.In("tokens")), "output", Tol);
    }

    [Fact]
    public void Intermediates_match_reference()
    {
        using var f = Fixture.Load("openclip_text");
        using var enc = LoadEncoder(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var tokens = f.In("tokens");
        f.AssertClose(enc.Model.TokenEmbedding.forward(tokens), "token_embedding_out", Tol);
        var x = enc.Embed(tokens);
        f.AssertClose(x, "embed_plus_pos", Tol);
        // Every block the penultimate output runs through has its output stored as after_resblock_{i}.
        for (int i = 0; i < enc.BlocksUsed; i++)
        {
            x = enc.Model.Blocks[i].forward(x);
            f.AssertClose(x, $"after_resblock_{i}", Tol);
        }
        f.AssertClose(enc.Model.LnFinal.forward(x), "output", Tol);
    }

    [Fact]
    public void Causal_mask_is_the_reference_mask()
    {
        // The fixture's attn_mask (0 on/below the diagonal, -inf above) is what SDPA's is_causal applies: a later
        // token never changes an earlier row of the output.
        using var f = Fixture.Load("openclip_text");
        using var scope = torch.NewDisposeScope();
        var mask = f.In("attn_mask");
        long n = mask.shape[0];
        var expected = torch.full(n, n, double.NegativeInfinity).triu(1);
        Assert.True(mask.to(ScalarType.Float64).eq(expected).all().item<bool>(), "attn_mask is not the causal -inf/0 mask");

        using var enc = LoadEncoder(f);
        using var _ = torch.no_grad();
        var tokens = f.In("tokens")[TensorIndex.Slice(0, 1)].clone();   // [1, 77]
        var changed = tokens.clone();
        long last = tokens.shape[1] - 1;
        changed[0, last] = torch.tensor((tokens[0, last].item<long>() + 1) % enc.Config.vocab_size);
        var a = enc.forward(tokens);
        var b = enc.forward(changed);
        var prefix = TensorIndex.Slice(0, last);
        Fixture.AssertClose(b[TensorIndex.Colon, prefix], a[TensorIndex.Colon, prefix], "openclip_text/causal_prefix", 0);
        Assert.True((b[0, last] - a[0, last]).abs().max().item<float>() > 0, "the changed last token did not change its own row");
    }

    [Fact]
    public void Strict_load_rejects_missing_and_extra_keys()
    {
        using var f = Fixture.Load("openclip_text");
        var cfg = OpenClipTextConfig.FromJson(f.Config);
        using var fewer = new OpenClipTextEncoder(cfg with { layers = cfg.layers - 1 });
        var ex = Assert.Throws<StateDictMismatchException>(() =>
            StateDictLoader.Load(fewer, f.Weights, new LoadOptions { Prefix = f.Prefix, Strict = true }));
        Assert.Contains(ex.Unexpected, k => k.StartsWith($"model.transformer.resblocks.{cfg.layers - 1}.", StringComparison.Ordinal));
        Assert.DoesNotContain(ex.Missing, k => k.Contains("attn_mask", StringComparison.Ordinal));
    }

    [Fact]
    public void Bad_tokens_are_rejected_with_their_shape()
    {
        using var f = Fixture.Load("openclip_text");
        using var enc = new OpenClipTextEncoder(OpenClipTextConfig.FromJson(f.Config));
        using var scope = torch.NewDisposeScope();
        var ctx = enc.Config.context_length;
        var ex = Assert.Throws<ArgumentException>(() => enc.forward(torch.zeros(2, ctx - 1, ScalarType.Int64)));
        Assert.Contains($"[2, {ctx - 1}]", ex.Message);
        Assert.Throws<ArgumentException>(() => enc.forward(torch.full(1, ctx, enc.Config.vocab_size, ScalarType.Int64)));
        Assert.Throws<ArgumentException>(() => enc.forward(torch.zeros(1, ctx)));
    }
}
