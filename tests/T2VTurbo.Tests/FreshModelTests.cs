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
}
