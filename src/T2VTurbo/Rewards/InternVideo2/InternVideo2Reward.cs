using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Rewards.InternVideo2;

/// <summary>T2V-Turbo's "vi_clip2" video-text reward (reward_fn.py <c>get_intern_vid2_score_fn</c>, spec §4.5): clips
/// [B, T, 3, H, W] in [0, 1] → ResizeCropMinSize + ImageNet normalisation → InternVideo2 video embedding; captions →
/// BERT WordPiece ids (max_txt_l, [CLS] only) → text embedding under no_grad; score = cosine, differentiable w.r.t. the
/// frames. T must be the model's <c>num_frames</c> (the reference builds the model for it; 4 or 8).</summary>
public sealed class InternVideo2Reward : IRewardModel
{
    private readonly Generator? generator;

    public InternVideo2Stage2 Model { get; }
    public BertWordPieceTokenizer Tokenizer { get; }
    public string Name => "vi_clip2";
    public RewardKind Kind => RewardKind.Video;

    /// <param name="generator">Source of the shared random crop offset (torch's global RNG when null).</param>
    public InternVideo2Reward(InternVideo2Stage2 model, BertWordPieceTokenizer tokenizer, Generator? generator = null)
    {
        if (tokenizer.VocabSize != model.Config.text.vocab_size)
            throw new ArgumentException($"InternVideo2Reward: tokenizer has {tokenizer.VocabSize} tokens, the text tower {model.Config.text.vocab_size}");
        Model = model;
        Tokenizer = tokenizer;
        this.generator = generator;
        Model.eval();
    }

    /// <summary>Normalised text embeddings [N, embed_dim] of the captions (no gradient).</summary>
    public Tensor TextFeatures(IReadOnlyList<string> captions)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var device = Model.parameters().First().device;
        var (ids, mask) = Tokenizer.Encode(captions, Model.Config.max_txt_l);
        var raw = Model.TextFeaturesRaw(ids.to(device), mask.to(device));
        return InternVideo2Stage2.L2Normalize(raw).MoveToOuterDisposeScope();
    }

    /// <summary>Normalised video embeddings [B, embed_dim] of clips [B, T, 3, H, W] in [0, 1], with gradient. The crop is
    /// at <paramref name="cropTopLeft"/> when given, else drawn from the generator.</summary>
    public Tensor VideoFeatures(Tensor clips, (long Top, long Left)? cropTopLeft = null)
    {
        if (clips.dim() != 5 || clips.shape[1] != Model.Config.vision.num_frames)
            throw new ArgumentException($"InternVideo2Reward: clips must be [B, {Model.Config.vision.num_frames}, 3, H, W] (the model's num_frames), got [{string.Join(", ", clips.shape)}]");
        using var scope = torch.NewDisposeScope();
        var pixels = InternVideo2Preprocess.PixelValues(clips, Model.Config, cropTopLeft, generator);  // [B, 3, T, S, S]
        return InternVideo2Stage2.L2Normalize(Model.VideoFeaturesRaw(pixels)).MoveToOuterDisposeScope();
    }

    /// <summary>Clips [B, T, 3, H, W] in [0, 1] and B captions → cosine scores [B].</summary>
    public Tensor Score(Tensor frames, IReadOnlyList<string> captions) => Score(frames, captions, null);

    /// <summary>As <see cref="Score(Tensor, IReadOnlyList{string})"/> with an explicit crop position (top, left).</summary>
    public Tensor Score(Tensor frames, IReadOnlyList<string> captions, (long Top, long Left)? cropTopLeft)
    {
        if (frames.dim() != 5 || captions.Count != frames.shape[0])
            throw new ArgumentException($"InternVideo2Reward: need clips [B, T, 3, H, W] and B captions, got [{string.Join(", ", frames.shape)}] and {captions.Count} captions");
        using var scope = torch.NewDisposeScope();
        var text = TextFeatures(captions).to(frames.device);
        var video = VideoFeatures(frames, cropTopLeft);
        return InternVideo2Stage2.Similarity(video, text.to(video.dtype)).MoveToOuterDisposeScope();
    }

    public void Dispose() => Model.Dispose();
}
