using T2VTurbo.IO;
using T2VTurbo.Pipelines;
using T2VTurbo.Rewards;
using T2VTurbo.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>How training frames are brought to the CLIP's image size: HPSv2's letterbox or the clip reward's squash
/// (the same for square frames).</summary>
public enum ClipResize { Letterbox, Squash }

/// <summary>Contrastive training of an open_clip <see cref="OpenClipModel"/> (both towers) on (frame, caption) pairs,
/// as open_clip's training loop: one frame per clip, drawn from the run's generator; pixels through the reward's own
/// preprocessing (<see cref="ImagePreprocess"/>: letterbox or squash to image_size, OpenAI CLIP mean/std); captions
/// through <see cref="ClipTokenizer.Default"/>; loss = symmetric InfoNCE with the learnable logit_scale
/// (<see cref="ContrastiveLoss"/>). open_clip clamps logit_scale to [0, ln 100] after each optimizer step; here the
/// clamp runs before each step's forward (and before export), which gives every forward the same value.</summary>
public static class ClipTraining
{
    public static readonly double MaxLogitScale = Math.Log(100);

    public const string ClipFile = "clip.safetensors";
    public const string TextFile = "text.safetensors";

    public static TrainingStepFunction Step(OpenClipModel model, ClipResize resize = ClipResize.Letterbox, ClipTokenizer? tokenizer = null)
    {
        var tok = tokenizer ?? ClipTokenizer.Default;
        if (tok.ContextLength != model.Config.text_cfg.context_length)
            throw new ArgumentException($"the tokenizer's context length {tok.ContextLength} differs from the model's context_length {model.Config.text_cfg.context_length}");
        return (batch, rng) =>
        {
            ClampLogitScale(model);
            var w = model.parameters().First();
            var videos = batch.Videos;                                                            // [B, 3, T, H, W] in [−1, 1]
            long b = videos.shape[0], t = videos.shape[2];
            var pick = rng.RandInt(t, new[] { b });                                                // [B]: one frame per clip
            var index = pick.reshape(b, 1, 1, 1, 1).expand(b, 3, 1, videos.shape[3], videos.shape[4]).to(videos.device);
            var frames01 = (videos.gather(2, index).squeeze(2).to(ScalarType.Float32) + 1) / 2;    // [B, 3, H, W] in [0, 1]
            var pixels = Preprocess(frames01, model.Config.vision_cfg.image_size, resize).to(w.dtype, w.device); // [B, 3, S, S]
            var image = model.EncodeImage(pixels, normalize: true);                                // [B, E]
            var text = model.EncodeText(tok.Tokenize(batch.Captions).to(w.device), normalize: true); // [B, E]
            var (loss, accuracy) = ContrastiveLoss.SymmetricInfoNce(image, text, model.LogitScale.exp(), batch.Captions);
            var terms = new Dictionary<string, double>
            {
                ["loss_infonce"] = loss.item<float>(),
                ["logit_scale"] = Math.Exp(model.LogitScale.item<float>()),
                ["retrieval_acc"] = accuracy,
            };
            return (loss, terms);
        };
    }

    /// <summary>The reward's pixel path: frames [N, 3, H, W] in [0, 1] → normalised [N, 3, S, S].</summary>
    public static Tensor Preprocess(Tensor frames01, int imageSize, ClipResize resize)
    {
        using var scope = torch.NewDisposeScope();
        var x = resize == ClipResize.Letterbox ? ImagePreprocess.Letterbox(frames01, imageSize) : ImagePreprocess.Squash(frames01, imageSize);
        return ImagePreprocess.Normalize(x, ImagePreprocess.OpenAiClipMean, ImagePreprocess.OpenAiClipStd).MoveToOuterDisposeScope();
    }

    /// <summary>open_clip's <c>logit_scale.clamp_(0, math.log(100))</c>.</summary>
    public static void ClampLogitScale(OpenClipModel model)
    {
        using var _ = torch.no_grad();
        model.LogitScale.clamp_(0, MaxLogitScale);
    }

    /// <summary>The whole model, open_clip CLIP keys without prefix (what <see cref="HpsV2Reward.Load(string, OpenClipModelConfig?, Device?, ScalarType?, bool, string)"/>
    /// and <see cref="ClipReward"/> load with the config).</summary>
    public static void ExportClip(OpenClipModel model, string path)
    {
        ClampLogitScale(model);
        ModelCheckpoint.SaveStateDict(path, model, "", new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>The text tower under VideoCrafter2's text-encoder keys: every key but visual.* as
    /// <c>cond_stage_model.model.&lt;key&gt;</c> (FrozenOpenCLIPEmbedder.model after its visual tower is deleted), so
    /// <c>train teacher --text</c> and <see cref="OpenClipTextEncoder"/> (prefix cond_stage_model.) load it strictly.</summary>
    public static void ExportText(OpenClipModel model, string path)
    {
        ClampLogitScale(model);
        var all = ModelCheckpoint.StateDict(model, ModelLoader.TextPrefix + "model.");
        string visual = ModelLoader.TextPrefix + "model.visual.";
        var text = all.Where(kv => !kv.Key.StartsWith(visual, StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        try { SafeTensors.Save(path, text, new Dictionary<string, string> { ["format"] = "pt" }); }
        finally { foreach (var v in all.Values) v.Dispose(); }
    }
}
