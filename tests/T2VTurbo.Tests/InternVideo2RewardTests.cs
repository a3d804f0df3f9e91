using T2VTurbo.IO;
using T2VTurbo.Rewards.InternVideo2;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>Parity with T2V-Turbo's "vi_clip2" reward (InternVideo2-Stage2-1B) — fixture reward_internvideo2.</summary>
public class InternVideo2RewardTests
{
    private const string Name = "reward_internvideo2";

    private static double Tol(Fixture f, string kind) => f.Config["tolerance"]![kind]!.GetValue<double>();

    private static InternVideo2VisionEncoder LoadVision(Fixture f, Func<InternVideo2VisionConfig, InternVideo2VisionConfig>? edit = null)
    {
        var cfg = InternVideo2Config.FromJson(f.Config).vision;
        var enc = new InternVideo2VisionEncoder(edit is null ? cfg : edit(cfg));
        StateDictLoader.Load(enc, f.Weights, new LoadOptions { Prefix = "vision_encoder.", Strict = true });
        enc.eval();
        return enc;
    }

    [Fact]
    public void Vision_tower_matches_reference()
    {
        using var f = Fixture.Load(Name);
        using var enc = LoadVision(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        double tol = Tol(f, "features");
        var pixels = f.In("pixel_values");                                   // [B, 3, T, S, S]
        f.AssertClose(enc.PatchEmbed(pixels), "vision_patch_embed", tol);
        f.AssertClose(enc.PositionEmbedding(pixels.shape[2]), "vision_pos_embed", tol);
        f.AssertClose(enc.Tokens(pixels), "vision_tokens", tol);
        var outs = new List<Tensor>();
        var hidden = enc.Hidden(pixels, outs);
        Assert.Equal(enc.Config.depth, outs.Count);
        for (int i = 0; i < outs.Count; i++)
            if (f.Has($"vision_block_{i}_out")) f.AssertClose(outs[i], $"vision_block_{i}_out", tol);
        f.AssertClose(hidden, "vision_blocks_out", tol);
        f.AssertClose(enc.Pool(hidden), "vision_pooled", tol);
    }

    [Fact]
    public void Vision_tower_plain_path_uses_exact_gelu()
    {
        // The *_exact_gelu tensors are the same weights through the repo's non-fused path (exact GELU in the MLP); the
        // hidden states tell the two activations apart (1.8e-3 apart in the fixture).
        using var f = Fixture.Load(Name);
        using var enc = LoadVision(f, c => c with { use_fused_mlp = false });
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        f.AssertClose(enc.Hidden(f.In("pixel_values")), "vision_blocks_out_exact_gelu", Tol(f, "features"));
    }

    private static BertTextEncoder LoadText(Fixture f)
    {
        var enc = new BertTextEncoder(InternVideo2Config.FromJson(f.Config).text);
        StateDictLoader.Load(enc, f.Weights, new LoadOptions { Prefix = "text_encoder.bert.", Strict = true });
        enc.eval();
        return enc;
    }

    [Fact]
    public void Text_tower_matches_reference()
    {
        using var f = Fixture.Load(Name);
        using var enc = LoadText(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        double tol = Tol(f, "features");
        var ids = f.In("text_input_ids");
        var mask = f.In("text_attention_mask");
        f.AssertClose(enc.Embed(ids), "text_embeddings_out", tol);
        var outs = new List<Tensor>();
        var hidden = enc.Hidden(ids, mask, outs);
        Assert.Equal(enc.Config.fusion_layer, outs.Count);
        for (int i = 0; i < outs.Count; i++)
            if (f.Has($"text_layer_{i}_out")) f.AssertClose(outs[i], $"text_layer_{i}_out", tol);
        f.AssertClose(hidden, "text_last_hidden", tol);
        f.AssertClose(enc.forward(ids, mask), "text_cls", tol);
    }
}
