using T2VTurbo.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Rewards.InternVideo2;

/// <summary>T2V-Turbo's <c>InternVideo2_Stage2</c> (intern_vid2/demo_utils.py) for the vi_clip2 reward: the vision tower,
/// the BERT text tower (held directly, so its keys are "text_encoder.*" here and "text_encoder.bert.*" in the
/// checkpoint), and <c>vision_proj</c> / <c>text_proj</c> to <c>embed_dim</c>. Features are L2-normalised (no eps);
/// the score is their dot product (no temperature).</summary>
public sealed class InternVideo2Stage2 : nn.Module
{
    /// <summary>Checkpoint keys that T2V-Turbo's loader drops (MLM head, contrastive temperature, ITM head).</summary>
    public static readonly IReadOnlyList<string> DroppedCheckpointPrefixes = new[] { "text_encoder.cls.", "temp", "itm_head." };

    private readonly InternVideo2VisionEncoder vision_encoder;   // checkpoint: vision_encoder.*
    private readonly BertTextEncoder text_encoder;               // checkpoint: text_encoder.bert.*
    private readonly Linear vision_proj, text_proj;              // checkpoint: vision_proj.*, text_proj.*

    public InternVideo2Config Config { get; }

    public InternVideo2Stage2(InternVideo2Config? config = null) : base(nameof(InternVideo2Stage2))
    {
        Config = config ?? new InternVideo2Config();
        Config.Validate();
        vision_encoder = new InternVideo2VisionEncoder(Config.vision);
        text_encoder = new BertTextEncoder(Config.text);
        vision_proj = nn.Linear(Config.vision.clip_embed_dim, Config.embed_dim);
        text_proj = nn.Linear(Config.text.hidden_size, Config.embed_dim);
        RegisterComponents();
    }

    public InternVideo2VisionEncoder VisionEncoder => vision_encoder;
    public BertTextEncoder TextEncoder => text_encoder;

    /// <summary>Loads a checkpoint's <c>module</c> dict the way T2V-Turbo's setup does, each part strictly:
    /// "vision_encoder.", "text_encoder.bert.", "vision_proj.", "text_proj." (the rest — see
    /// <see cref="DroppedCheckpointPrefixes"/> — is ignored). Returns the checkpoint keys that were loaded.</summary>
    public IReadOnlyList<string> Load(ICheckpointSource source)
    {
        var loaded = new List<string>();
        foreach (var (module, prefix) in new (nn.Module, string)[]
                 { (vision_encoder, "vision_encoder."), (text_encoder, "text_encoder.bert."), (vision_proj, "vision_proj."), (text_proj, "text_proj.") })
        {
            var report = StateDictLoader.Load(module, source, new LoadOptions { Prefix = prefix, Strict = true });
            loaded.AddRange(report.Loaded.Select(k => prefix + k));
        }
        return loaded;
    }

    /// <summary>Un-normalised video embedding: pixel values [B, C, T, S, S] → vision_proj(pooled) [B, embed_dim].</summary>
    public Tensor VideoFeaturesRaw(Tensor pixelValues)
    {
        using var scope = torch.NewDisposeScope();
        return vision_proj.forward(vision_encoder.forward(pixelValues)).MoveToOuterDisposeScope();
    }

    /// <summary>Un-normalised text embedding: text_proj([CLS]) [N, embed_dim] for ids / mask [N, L].</summary>
    public Tensor TextFeaturesRaw(Tensor inputIds, Tensor attentionMask)
    {
        using var scope = torch.NewDisposeScope();
        return text_proj.forward(text_encoder.forward(inputIds, attentionMask)).MoveToOuterDisposeScope();
    }

    /// <summary>x / ‖x‖ over the last dimension (no eps, as the reference).</summary>
    public static Tensor L2Normalize(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return (x / x.norm(-1, keepdim: true)).MoveToOuterDisposeScope();
    }

    /// <summary>(video · text).sum(−1) with broadcasting: [B, E] × [N, E] → pairwise when B == N, one video against
    /// every prompt when B == 1 (and one prompt against every video when N == 1).</summary>
    public static Tensor Similarity(Tensor videoFeatures, Tensor textFeatures)
    {
        long b = videoFeatures.shape[0], n = textFeatures.shape[0];
        if (b != n && b != 1 && n != 1)
            throw new ArgumentException($"InternVideo2Stage2: cannot pair {b} videos with {n} texts (need equal counts or one of them 1)");
        using var scope = torch.NewDisposeScope();
        return (videoFeatures * textFeatures).sum(-1).MoveToOuterDisposeScope();
    }
}
