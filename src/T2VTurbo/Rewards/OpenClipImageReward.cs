using T2VTurbo.IO;
using T2VTurbo.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Rewards;

/// <summary>An image-text reward on an open_clip CLIP (reward_fn.py's hpsv2 and clip): preprocess each frame
/// (subclass: letterbox or squash, then OpenAI CLIP normalisation), <c>encode_image(normalize=True)</c> with gradients,
/// <c>encode_text(normalize=True)</c> without, score = cosine. The model is frozen (eval, no parameter gradients), so
/// gradients of the score reach only the frames.</summary>
public abstract class OpenClipImageReward : IRewardModel
{
    private readonly bool ownsModel;

    protected OpenClipImageReward(OpenClipModel model, ClipTokenizer? tokenizer, bool antialias, bool ownsModel)
    {
        Model = model;
        Tokenizer = tokenizer ?? ClipTokenizer.Default;
        Antialias = antialias;
        this.ownsModel = ownsModel;
        if (Tokenizer.ContextLength != model.Config.text_cfg.context_length)
            throw new ArgumentException($"{GetType().Name}: tokenizer context length {Tokenizer.ContextLength} != model context_length {model.Config.text_cfg.context_length}");
        model.eval();
        foreach (var p in model.parameters()) p.requires_grad = false;
    }

    public OpenClipModel Model { get; }
    public ClipTokenizer Tokenizer { get; }
    /// <summary>Whether the bicubic resize antialiases (torchvision ≥ 0.17 default for tensors; the fixture's main case).</summary>
    public bool Antialias { get; }
    public int ImageSize => Model.Config.vision_cfg.image_size;

    public abstract string Name { get; }
    public RewardKind Kind => RewardKind.Image;

    /// <summary>The geometric part of the preprocessing: frames [N, 3, H, W] in [0, 1] → [N, 3, S, S] in [0, 1].</summary>
    public abstract Tensor Resize(Tensor frames01);

    /// <summary>The model input: <see cref="Resize"/> then OpenAI CLIP mean/std, cast to the model's dtype and device.</summary>
    public Tensor Preprocess(Tensor frames01)
    {
        using var scope = torch.NewDisposeScope();
        var x = ImagePreprocess.Normalize(Resize(frames01), ImagePreprocess.OpenAiClipMean, ImagePreprocess.OpenAiClipStd);
        var w = Model.Visual.parameters().First();
        return x.to(w.dtype, w.device).MoveToOuterDisposeScope();
    }

    /// <summary>Normalised image features [N, embed_dim], differentiable with respect to the frames.</summary>
    public Tensor ImageFeatures(Tensor frames01)
    {
        using var scope = torch.NewDisposeScope();
        return Model.EncodeImage(Preprocess(frames01), normalize: true).MoveToOuterDisposeScope();
    }

    /// <summary>Normalised text features [n, embed_dim] of the captions (no gradients).</summary>
    public Tensor TextFeatures(IReadOnlyList<string> captions)
    {
        ArgumentNullException.ThrowIfNull(captions);
        if (captions.Count == 0) throw new ArgumentException($"{Name}: at least one caption is needed");
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        return Model.EncodeText(Tokenizer.Tokenize(captions), normalize: true).MoveToOuterDisposeScope();
    }

    public Tensor Score(Tensor frames, IReadOnlyList<string> captions) => Score(frames, captions, returnLogits: false);

    /// <summary>frames [N, 3, H, W] in [0, 1], captions: n entries with N a multiple of n → scores [N] (in the model's
    /// dtype; float32 for half-precision models).
    /// Caption features are tiled as in reward_fn.py (<c>text_features.repeat(N // n, 1)</c>): frame i is scored
    /// against caption i mod n; one caption serves all frames. With <paramref name="returnLogits"/> the cosine is
    /// multiplied by <c>logit_scale.exp()</c>.</summary>
    public Tensor Score(Tensor frames, IReadOnlyList<string> captions, bool returnLogits)
    {
        ArgumentNullException.ThrowIfNull(frames);
        ArgumentNullException.ThrowIfNull(captions);
        if (frames.dim() != 4 || frames.shape[1] != 3)
            throw new ArgumentException($"{Name}: frames must be [N, 3, H, W] in [0, 1], got [{string.Join(", ", frames.shape)}]");
        long n = frames.shape[0];
        if (captions.Count == 0 || n % captions.Count != 0)
            throw new ArgumentException($"{Name}: {captions.Count} captions for {n} frames; the frame count must be a positive multiple of the caption count");
        using var scope = torch.NewDisposeScope();
        var image = ImageFeatures(frames);                                           // [N, E]
        var text = TextFeatures(captions).repeat(n / captions.Count, 1);             // [N, E], tiled
        var score = (image * text).sum(-1);                                          // [N]
        if (returnLogits) score = score * Model.LogitScale.exp();
        if (score.dtype is ScalarType.BFloat16 or ScalarType.Float16) score = score.to(ScalarType.Float32);
        return score.MoveToOuterDisposeScope();
    }

    /// <summary>Builds the model, moves it to <paramref name="device"/>/<paramref name="dtype"/>, and loads the weights
    /// strictly (open_clip CLIP keys under <paramref name="prefix"/>).</summary>
    protected static OpenClipModel LoadModel(ICheckpointSource source, string prefix, OpenClipModelConfig? config,
        Device? device, ScalarType? dtype)
    {
        var model = new OpenClipModel(config);
        try
        {
            // dtype first: a bf16 model then crosses to the GPU at half the size.
            if (dtype is not null) model.to(dtype.Value);
            if (device is not null) model.to(device);
            StateDictLoader.Load(model, source, new LoadOptions { Prefix = prefix, Strict = true });
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (ownsModel) Model.Dispose();
        GC.SuppressFinalize(this);
    }
}
