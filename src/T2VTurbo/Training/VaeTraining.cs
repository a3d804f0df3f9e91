using T2VTurbo.Models;
using T2VTurbo.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>Reconstruction loss of <see cref="VaeTraining"/>.</summary>
public enum ReconstructionLoss { L1, Mse }

/// <summary>Training the KL autoencoder on single frames (lvdm AutoencoderKL with LPIPSWithDiscriminator, minus the
/// perceptual and adversarial terms and the learned log-variance): every frame of a batch of clips is one image;
/// the decoder sees a posterior sample z = mean + std·ε (ε from the run's generator), as in training with
/// sample_posterior = True.
/// loss = rec + kl_weight · KL / (3·H·W), where rec is the mean per-pixel |x − x̂| (L1) or (x − x̂)² (MSE) and KL the
/// posterior's KL to N(0, I) summed over the latent of an image and averaged over images. LDM sums both the
/// reconstruction and the KL per image; dividing its sum by the pixel count 3·H·W gives this form, so kl_weight has
/// LDM's meaning (its default 1e-6).</summary>
public static class VaeTraining
{
    public static TrainingStepFunction Step(KlAutoencoder vae, ReconstructionLoss rec = ReconstructionLoss.L1, double klWeight = 1e-6) =>
        (batch, rng) =>
        {
            var p = vae.parameters().First();
            var images = KlAutoencoder.FoldFrames(batch.Videos.to(p.dtype, p.device));        // [B·T, 3, H, W]
            return Loss(vae, images, rng, rec, klWeight);
        };

    /// <summary>The loss of a batch of images [N, 3, H, W] in [−1, 1] and its terms (loss_rec, loss_kl, kl_per_image).</summary>
    public static (Tensor Loss, Dictionary<string, double> Terms) Loss(KlAutoencoder vae, Tensor images, TrainingRng rng,
        ReconstructionLoss rec, double klWeight)
    {
        if (klWeight < 0 || !double.IsFinite(klWeight)) throw new ArgumentException($"KL weight must be ≥ 0, got {klWeight}");
        using var scope = torch.NewDisposeScope();
        using var posterior = vae.Encode(images);                                               // over [N, E, h, w]
        var z = posterior.Sample(rng.Randn(posterior.Mean.shape).to(posterior.Mean.dtype, posterior.Mean.device));
        var recon = vae.Decode(z);                                                              // [N, 3, H, W]
        var diff = recon - images;
        var lossRec = rec == ReconstructionLoss.L1 ? diff.abs().mean() : diff.square().mean();
        // KL(N(μ, σ²) ‖ N(0, 1)) = ½ Σ (μ² + σ² − 1 − log σ²), summed over the latent of each image
        var kl = (0.5 * (posterior.Mean.square() + posterior.LogVar.exp() - 1.0 - posterior.LogVar)).sum(new long[] { 1, 2, 3 }).mean();
        double pixels = images.shape[1] * images.shape[2] * images.shape[3];
        var loss = lossRec + (klWeight / pixels) * kl;
        var terms = new Dictionary<string, double>
        {
            [rec == ReconstructionLoss.L1 ? "loss_rec_l1" : "loss_rec_mse"] = lossRec.item<float>(),
            ["kl_per_image"] = kl.item<float>(),
        };
        return (loss.MoveToOuterDisposeScope(), terms);
    }

    /// <summary>Writes the VAE's weights with the <c>first_stage_model.</c> prefix, so the file is one part of a
    /// VideoCrafter2-layout model file.</summary>
    public static void ExportWeights(KlAutoencoder vae, string path) =>
        ModelCheckpoint.SaveStateDict(path, vae, ModelLoader.VaePrefix, new Dictionary<string, string> { ["format"] = "pt" });
}
