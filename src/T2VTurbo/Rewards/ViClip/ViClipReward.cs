using T2VTurbo.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Rewards.ViClip;

/// <summary>The "vi_clip" video-text reward (reward_fn.py <c>get_vi_clip_score_fn</c>, spec §4.5): clips in [0, 1] →
/// <see cref="ViClipPreprocess"/> (one crop shared by the whole batch) → ViCLIP video features / ‖·‖; captions →
/// 32-token ids → text features / ‖·‖ (no gradients); score = cosine similarity (no temperature). The model is frozen
/// (eval, no parameter gradients); gradients reach the frames.</summary>
public sealed class ViClipReward : IRewardModel
{
    private readonly bool ownsModel;

    public ViClipModel Model { get; }
    public ClipTokenizer Tokenizer { get; }
    public ViClipPreprocess Preprocess { get; }
    /// <summary>Draws the crop offset at each <see cref="Score(Tensor, IReadOnlyList{string})"/>; null: torch's global generator.</summary>
    public Generator? CropGenerator { get; set; }

    public string Name => "vi_clip";
    public RewardKind Kind => RewardKind.Video;
    /// <summary>Frames per clip the encoder accepts (the reference asserts 8).</summary>
    public int Frames => Model.Config.vision.num_frames * Model.Config.vision.kernel_size;

    /// <param name="model">Loaded weights; frozen here.</param>
    /// <param name="preprocess">Defaults to a crop of the vision input_resolution, antialiased resize.</param>
    /// <param name="ownsModel">Dispose the model with this reward.</param>
    public ViClipReward(ViClipModel model, ViClipPreprocess? preprocess = null, ClipTokenizer? tokenizer = null,
        Generator? cropGenerator = null, bool ownsModel = true)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Preprocess = preprocess ?? new ViClipPreprocess { MinSize = model.Config.vision.input_resolution };
        if (Preprocess.MinSize != model.Config.vision.input_resolution)
            throw new ArgumentException($"ViClipReward: the crop size {Preprocess.MinSize} differs from the encoder's input_resolution {model.Config.vision.input_resolution}");
        Tokenizer = tokenizer ?? ViClipTokenizer.Create(model.Config.text.context_length);
        if (Tokenizer.ContextLength != model.Config.text.context_length)
            throw new ArgumentException($"ViClipReward: the tokenizer's context length {Tokenizer.ContextLength} differs from the text encoder's {model.Config.text.context_length}");
        CropGenerator = cropGenerator;
        this.ownsModel = ownsModel;
        Model.eval();
        foreach (var p in Model.parameters()) p.requires_grad = false;
    }

    /// <summary>clips [B, T, 3, H, W] in [0, 1] → normalised pixel values [B, T, 3, S, S] (S = input_resolution).</summary>
    public Tensor PixelValues(Tensor clips, CropOffset? crop = null)
    {
        CheckClips(clips);
        using var scope = torch.NewDisposeScope();
        var (b, t) = (clips.shape[0], clips.shape[1]);
        var frames = clips.reshape(b * t, 3, clips.shape[3], clips.shape[4]);    // [B·T, 3, H, W]
        var pixels = Preprocess.Apply(frames, crop, CropGenerator);              // [B·T, 3, S, S]
        return pixels.reshape(b, t, 3, pixels.shape[2], pixels.shape[3]).MoveToOuterDisposeScope();
    }

    /// <summary><c>get_vid_feat_with_grad</c>: pixel values [B, T, 3, S, S] → unit video features [B, output_dim].</summary>
    public Tensor VideoFeatures(Tensor pixelValues)
    {
        using var scope = torch.NewDisposeScope();
        var weight = Model.VisionEncoder.parameters().First();
        var f = Model.EncodeVision(pixelValues.to(weight.dtype, weight.device));
        return (f / f.norm(-1, keepdim: true)).MoveToOuterDisposeScope();
    }

    /// <summary>Captions → unit text features [N, embed_dim], without gradients.</summary>
    public Tensor TextFeatures(IReadOnlyList<string> captions)
    {
        ArgumentNullException.ThrowIfNull(captions);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var weight = Model.TextEncoder.parameters().First();
        var f = Model.EncodeText(Tokenizer.Tokenize(captions).to(weight.device));
        return (f / f.norm(-1, keepdim: true)).MoveToOuterDisposeScope();
    }

    /// <summary>Clips [B, T, 3, H, W] in [0, 1] and B captions → cosine scores [B]; the crop is drawn from
    /// <see cref="CropGenerator"/>.</summary>
    public Tensor Score(Tensor frames, IReadOnlyList<string> captions) => Score(frames, captions, null);

    /// <summary>As <see cref="Score(Tensor, IReadOnlyList{string})"/> with a given crop offset (null: drawn).</summary>
    public Tensor Score(Tensor frames, IReadOnlyList<string> captions, CropOffset? crop)
    {
        ArgumentNullException.ThrowIfNull(captions);
        CheckClips(frames);
        if (captions.Count != frames.shape[0])
            throw new ArgumentException($"ViClipReward: {frames.shape[0]} clips need {frames.shape[0]} captions, got {captions.Count}");
        using var scope = torch.NewDisposeScope();
        var video = VideoFeatures(PixelValues(frames, crop));                 // [B, D]
        var text = TextFeatures(captions).to(video.dtype);                    // [B, D]
        return (video * text).sum(-1).MoveToOuterDisposeScope();              // [B]
    }

    private void CheckClips(Tensor clips)
    {
        if (clips.dim() != 5 || clips.shape[2] != 3)
            throw new ArgumentException($"ViClipReward: clips must be [B, T, 3, H, W], got [{string.Join(", ", clips.shape)}]");
        if (clips.shape[1] != Frames)
            throw new ArgumentException($"ViClipReward: ViCLIP scores clips of {Frames} frames, got {clips.shape[1]}");
    }

    public void Dispose()
    {
        if (ownsModel) Model.Dispose();
    }
}
