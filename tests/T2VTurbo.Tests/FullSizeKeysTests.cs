using T2VTurbo.Models;
using T2VTurbo.Tests.Support;
using T2VTurbo.Text;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>The full-size modules, built from their default (real VideoCrafter2) configs on the META device, have exactly
/// the checkpoint's keys and shapes (shared/reference/videocrafter2_keys.json) — without allocating their weights
/// (the real text tower is 1.4 GB and the VAE 0.33 GB of float32).</summary>
[Collection(MetaDevice.Collection)]
public class FullSizeKeysTests
{
    [Fact]
    public void Text_encoder_has_the_checkpoint_keys()
    {
        using var enc = MetaDevice.Build(() => new OpenClipTextEncoder());
        ReferenceKeys.AssertMatches(enc, "cond_stage_model.");
    }

    [Fact]
    public void Vae_has_the_checkpoint_keys()
    {
        using var vae = MetaDevice.Build(() => new KlAutoencoder());
        ReferenceKeys.AssertMatches(vae, "first_stage_model.");
    }

    [Fact]
    public void Comparison_reports_missing_and_unexpected_keys()
    {
        // A wrong-size model must fail the comparison (guards against a helper that cannot fail).
        using var vae = MetaDevice.Build(() => new KlAutoencoder(new AutoencoderConfig { num_res_blocks = 1 }));
        var ex = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => ReferenceKeys.AssertMatches(vae, "first_stage_model."));
        Assert.Contains("missing: decoder.up.0.block.2.conv1.weight", ex.Message);
        using var wide = MetaDevice.Build(() => new OpenClipTextEncoder(new OpenClipTextConfig { width = 1024 + 16 }));
        var ex2 = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => ReferenceKeys.AssertMatches(wide, "cond_stage_model."));
        Assert.Contains("shape: model.positional_embedding", ex2.Message);
    }
}
