using T2VTurbo.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>Models built without loading weights start like PyTorch's (norm weight 1, bias 0) and run finite.</summary>
public class FreshModelTests
{
    [Fact]
    public void A_fresh_vae_has_unit_norms_and_decodes_finite_frames()
    {
        for (int i = 0; i < 3; i++) using (torch.randn(512, 512)) { }   // dirty the allocator's free memory first
        using var vae = new KlAutoencoder(new AutoencoderConfig { ch = 32, ch_mult = new[] { 1, 2 }, num_res_blocks = 1 });
        foreach (var (name, p) in vae.named_parameters().Where(p => p.name.Contains("norm")))
        {
            var expected = name.EndsWith("weight") ? 1f : 0f;
            Assert.True(p.eq(expected).all().item<bool>(), $"{name} is not {expected}");
        }
        using var z = torch.randn(1, 4, 4, 4);
        using var x = vae.Decode(z);
        Assert.True(x.isfinite().all().item<bool>());
    }

    [Fact]
    public void A_fresh_text_encoder_encodes_finite_context()
    {
        for (int i = 0; i < 3; i++) using (torch.full(512, 512, float.NaN)) { }   // leave NaN in freed memory
        using var enc = new T2VTurbo.Text.OpenClipTextEncoder(new T2VTurbo.Text.OpenClipTextConfig { width = 32, heads = 4, layers = 2, embed_dim = 32 });
        using var tokens = T2VTurbo.Text.ClipTokenizer.Default.Tokenize(new[] { "a red circle" });
        using var ctx = enc.forward(tokens);
        Assert.True(ctx.isfinite().all().item<bool>());
        Assert.True(enc.parameters().All(p => p.isfinite().all().item<bool>()));
    }
}
