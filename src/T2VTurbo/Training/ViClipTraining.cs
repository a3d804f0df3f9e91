using T2VTurbo.Rewards.ViClip;
using T2VTurbo.Text;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Training;

/// <summary>Contrastive training of a <see cref="ViClipModel"/> on (clip, caption) pairs, as ViCLIP's VTC objective:
/// every clip of num_frames · kernel_size frames goes through the reward's own pixel path (<see cref="ViClipPreprocess"/>:
/// bicubic resize of the shorter side to input_resolution, one crop for the batch drawn from torch's generator — which
/// the trainer re-seeds per step — ImageNet mean/std); captions through <see cref="ViClipTokenizer"/>; loss = symmetric
/// InfoNCE of the unit features with logits sim / temp (<see cref="ContrastiveLoss"/>). ViCLIP clamps the learnable
/// temp to ≥ temp_min = 1/100 before each forward (viclip.py), as here.</summary>
public static class ViClipTraining
{
    public const double MinTemp = 0.01;
    public const string ViClipFile = "viclip.safetensors";

    public static TrainingStepFunction Step(ViClipModel model, ClipTokenizer? tokenizer = null)
    {
        var tok = tokenizer ?? ViClipTokenizer.Create(model.Config.text.context_length);
        if (tok.ContextLength != model.Config.text.context_length)
            throw new ArgumentException($"the tokenizer's context length {tok.ContextLength} differs from the text encoder's {model.Config.text.context_length}");
        var preprocess = new ViClipPreprocess { MinSize = model.Config.vision.input_resolution };
        int frames = model.Config.vision.num_frames * model.Config.vision.kernel_size;
        var temp = model.get_parameter("temp") ?? throw new InvalidOperationException("ViClipModel has no temp parameter");
        return (batch, rng) =>
        {
            using (torch.no_grad()) temp.clamp_(min: MinTemp);
            var w = model.parameters().First();
            var videos = batch.Videos;                                                              // [B, 3, T, H, W] in [−1, 1]
            var (b, t, h, wd) = (videos.shape[0], videos.shape[2], videos.shape[3], videos.shape[4]);
            if (t != frames)
                throw new ArgumentException($"ViCLIP trains on clips of {frames} frames (num_frames {model.Config.vision.num_frames} × kernel_size {model.Config.vision.kernel_size}), got {t}; pass --frames {frames}");
            var clips01 = (videos.to(ScalarType.Float32).permute(0, 2, 1, 3, 4) + 1) / 2;          // [B, T, 3, H, W] in [0, 1]
            var pixels = preprocess.Apply(clips01.reshape(b * t, 3, h, wd));                        // [B·T, 3, S, S]
            pixels = pixels.reshape(b, t, 3, pixels.shape[2], pixels.shape[3]).to(w.dtype, w.device); // [B, T, 3, S, S]
            var video = F.normalize(model.EncodeVision(pixels), dim: -1);                           // [B, D]
            var text = F.normalize(model.EncodeText(tok.Tokenize(batch.Captions).to(w.device)), dim: -1); // [B, D]
            var (loss, accuracy) = ContrastiveLoss.SymmetricInfoNce(video, text, 1.0 / temp, batch.Captions);
            var terms = new Dictionary<string, double>
            {
                ["loss_vtc"] = loss.item<float>(),
                ["temp"] = temp.item<float>(),
                ["retrieval_acc"] = accuracy,
            };
            return (loss, terms);
        };
    }

    /// <summary>The whole model by ViCLIP's keys (temp, vision_encoder.*, text_encoder.*), no prefix: what
    /// <see cref="ViClipModel"/> (and so <see cref="ViClipReward"/>) loads strictly with the same config.</summary>
    public static void Export(ViClipModel model, string path) =>
        ModelCheckpoint.SaveStateDict(path, model, "", new Dictionary<string, string> { ["format"] = "pt" });
}
