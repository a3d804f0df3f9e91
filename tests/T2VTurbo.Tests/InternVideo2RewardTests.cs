using T2VTurbo.IO;
using T2VTurbo.Rewards;
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

    private static InternVideo2Reward LoadReward(Fixture f)
    {
        var model = new InternVideo2Stage2(InternVideo2Config.FromJson(f.Config));
        model.Load(f.Weights);
        return new InternVideo2Reward(model, BertWordPieceTokenizer.FromEmbedded());
    }

    private static string[] Prompts(Fixture f) => f.Config["prompts"]!.AsArray().Select(p => p!.GetValue<string>()).ToArray();

    private static (long Top, long Left) FixtureCrop(Fixture f)
    {
        var crop = f.In("crop_top_left");
        return (crop[0].item<long>(), crop[1].item<long>());
    }

    [Fact]
    public void Embedded_vocab_is_bert_uncased()
    {
        // The reference loads google-bert/bert-large-uncased's vocab.txt (md5 64800d5d8528ce344256daf115d4965e).
        using var stream = typeof(BertWordPieceTokenizer).Assembly.GetManifestResourceStream(BertWordPieceTokenizer.EmbeddedVocabularyName);
        Assert.NotNull(stream);
        using var gz = new System.IO.Compression.GZipStream(stream!, System.IO.Compression.CompressionMode.Decompress);
        using var raw = new MemoryStream();
        gz.CopyTo(raw);
        var md5 = Convert.ToHexString(System.Security.Cryptography.MD5.HashData(raw.ToArray())).ToLowerInvariant();
        Assert.Equal("64800d5d8528ce344256daf115d4965e", md5);
        var tok = BertWordPieceTokenizer.FromEmbedded();
        Assert.Equal(30522, tok.VocabSize);
        Assert.Equal((0L, 100L, 101L), (tok.PadId, tok.UnkId, tok.ClsId));
    }

    [Fact]
    public void Tokenizer_matches_reference_ids()
    {
        using var f = Fixture.Load(Name);
        var tok = BertWordPieceTokenizer.FromEmbedded();
        int maxLen = InternVideo2Config.FromJson(f.Config).max_txt_l;
        var (ids, mask) = tok.Encode(Prompts(f), maxLen);
        var expectedIds = f.In("text_input_ids");
        var expectedMask = f.In("text_attention_mask");
        Assert.Equal(expectedIds.shape, ids.shape);
        var idErr = (ids - expectedIds).abs().max().item<long>();
        var maskErr = (mask - expectedMask).abs().max().item<long>();
        MeasuredErrors.Record($"{Name}/text_input_ids", idErr);
        MeasuredErrors.Record($"{Name}/text_attention_mask", maskErr);
        Assert.True(idErr == 0, $"token ids differ:\n ours {string.Join(",", ids.data<long>())}\n ref  {string.Join(",", expectedIds.data<long>())}");
        Assert.Equal(0, maskErr);
        // InternVideo2's quirk: [CLS] first, never a [SEP] (102).
        Assert.True((ids.select(1, 0) == tok.ClsId).all().item<bool>());
        Assert.False((ids == 102).any().item<bool>());
    }

    [Fact]
    public void Tokenizer_basic_splitting_follows_bert()
    {
        // Lower case, accents stripped, punctuation split off, CJK characters alone, control characters dropped.
        Assert.Equal(new[] { "cafe", ",", "naive", "!", "中", "文", "x" }, BertWordPieceTokenizer.BasicTokenize("Café, NAÏVE!中文\u0007 x"));
        var tok = BertWordPieceTokenizer.FromEmbedded();
        Assert.Equal(new[] { "[UNK]" }, tok.Tokenize(new string('q', 101)));   // over 100 characters
        Assert.Contains("[SEP]", tok.Tokenize("a [SEP] b"));                    // special literals stay whole
        var (ids, mask) = tok.Encode(new[] { "" }, 5);
        Assert.Equal(new long[] { 101, 0, 0, 0, 0 }, ids.data<long>().ToArray());
        Assert.Equal(new long[] { 1, 0, 0, 0, 0 }, mask.data<long>().ToArray());
    }

    [Fact]
    public void Preprocessing_matches_reference()
    {
        using var f = Fixture.Load(Name);
        var cfg = InternVideo2Config.FromJson(f.Config);
        using var scope = torch.NewDisposeScope();
        double tol = Tol(f, "preprocess");
        var video = f.In("video01");                                                    // [B, T, 3, H, W]
        var (b, t, c, h, w) = (video.shape[0], video.shape[1], video.shape[2], video.shape[3], video.shape[4]);
        var frames = video.reshape(b * t, c, h, w);
        var resized = InternVideo2Preprocess.ResizeMinSide(frames, cfg.vision.img_size, cfg.antialias);
        f.AssertClose(resized, "resized_01", tol);
        f.AssertClose(InternVideo2Preprocess.ResizeMinSide(frames, cfg.vision.img_size, antialias: false), "resized_01_antialias_false", tol);
        var (top, left) = FixtureCrop(f);
        f.AssertClose(InternVideo2Preprocess.Crop(resized, top, left, cfg.vision.img_size), "resized_cropped_01", tol);
        f.AssertClose(InternVideo2Preprocess.PixelValues(video, cfg, (top, left)), "pixel_values", tol);
        f.AssertClose(InternVideo2Preprocess.PixelValues(video, cfg with { antialias = false }, (top, left)), "pixel_values_antialias_false", tol);
    }

    [Fact]
    public void Crop_offset_is_drawn_like_torchvision()
    {
        // The fixture drew its crop with torch.manual_seed(crop_seed) right before RandomCrop.get_params.
        using var f = Fixture.Load(Name);
        var cfg = InternVideo2Config.FromJson(f.Config);
        var resized = f.In("resized_01");
        using var gen = new Generator(f.Config["crop_seed"]!.GetValue<ulong>());
        var drawn = InternVideo2Preprocess.DrawCrop(resized.shape[2], resized.shape[3], cfg.vision.img_size, gen);
        Assert.Equal(FixtureCrop(f), drawn);
    }

    [Fact]
    public void Features_and_score_match_reference()
    {
        using var f = Fixture.Load(Name);
        using var reward = LoadReward(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        double tolF = Tol(f, "features"), tolS = Tol(f, "score");
        var model = reward.Model;
        var raw = model.VideoFeaturesRaw(f.In("pixel_values"));
        f.AssertClose(raw, "video_features_raw", tolF);
        var video = reward.VideoFeatures(f.In("video01"), FixtureCrop(f));
        f.AssertClose(video, "video_features", tolF);
        f.AssertClose(model.TextFeaturesRaw(f.In("text_input_ids"), f.In("text_attention_mask")), "text_features_raw", tolF);
        var text = reward.TextFeatures(Prompts(f));
        f.AssertClose(text, "text_features", tolF);
        f.AssertClose(InternVideo2Stage2.Similarity(video, text), "score", tolS);
    }

    /// <summary>The fixture's videos and prompts as IRewardModel pairs (video i, caption i): the reference broadcasts
    /// [B, E]·[N, E], so one video is repeated per prompt (B == 1) or one prompt per video (N == 1).</summary>
    private static (Tensor Clips, string[] Captions) Pairs(Fixture f)
    {
        var video = f.In("video01");
        var prompts = Prompts(f);
        long b = video.shape[0], n = prompts.Length, pairs = Math.Max(b, n);
        Assert.True(b == n || b == 1 || n == 1, $"fixture has {b} videos and {n} prompts: not broadcastable");
        var clips = b == 1 ? video.expand(pairs, -1, -1, -1, -1).contiguous() : video;
        var captions = n == 1 ? Enumerable.Repeat(prompts[0], (int)pairs).ToArray() : prompts;
        return (clips, captions);
    }

    [Fact]
    public void Reward_score_matches_reference_through_the_interface()
    {
        using var f = Fixture.Load(Name);
        using var reward = LoadReward(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var (clips, captions) = Pairs(f);
        IRewardModel rm = reward;
        Assert.Equal(RewardKind.Video, rm.Kind);
        f.AssertClose(reward.Score(clips, captions, FixtureCrop(f)), "score", Tol(f, "score"));

        var cfg = reward.Model.Config with { antialias = false };
        var noAaModel = new InternVideo2Stage2(cfg);
        noAaModel.Load(f.Weights);
        using var noAa = new InternVideo2Reward(noAaModel, reward.Tokenizer);
        f.AssertClose(noAa.Score(clips, captions, FixtureCrop(f)), "score_antialias_false", Tol(f, "score"));

        // The random crop, drawn from a generator seeded like the fixture's global RNG, lands on the same offset.
        var seededModel = new InternVideo2Stage2(reward.Model.Config);
        seededModel.Load(f.Weights);
        using var gen = new Generator(f.Config["crop_seed"]!.GetValue<ulong>());
        using var seeded = new InternVideo2Reward(seededModel, reward.Tokenizer, gen);
        var first = seeded.Score(clips.narrow(0, 0, 1), captions.Take(1).ToArray());
        Fixture.AssertClose(first, f.In("score").narrow(0, 0, 1), $"{Name}/score[0] (seeded crop)", Tol(f, "score"));
    }

    [Fact]
    public void Exact_gelu_variant_matches_reference_score()
    {
        using var f = Fixture.Load(Name);
        var cfg = InternVideo2Config.FromJson(f.Config);
        using var model = new InternVideo2Stage2(cfg with { vision = cfg.vision with { use_fused_mlp = false } });
        model.Load(f.Weights);
        using var reward = new InternVideo2Reward(model, BertWordPieceTokenizer.FromEmbedded());
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var video = reward.VideoFeatures(f.In("video01"), FixtureCrop(f));
        f.AssertClose(video, "video_features_exact_gelu", Tol(f, "features"));
        f.AssertClose(InternVideo2Stage2.Similarity(video, reward.TextFeatures(Prompts(f))), "score_exact_gelu", Tol(f, "score"));
    }

    [Fact]
    public void Gradient_reaches_the_frames()
    {
        using var f = Fixture.Load(Name);
        using var reward = LoadReward(f);
        using var scope = torch.NewDisposeScope();
        var (clips, captions) = Pairs(f);
        var frames = clips.clone().requires_grad_(true);
        var score = reward.Score(frames, captions, FixtureCrop(f));
        (-score.mean()).backward();
        var grad = frames.grad;
        Assert.NotNull(grad);
        Assert.True(grad!.isfinite().all().item<bool>(), "frame gradient has non-finite values");
        double norm = grad.abs().max().item<float>();
        Console.WriteLine($"[grad] {Name}: max |d(-score)/d frames| = {norm:E2}");
        Assert.True(norm > 0, "no gradient reached the frames");
        // The text tower runs under no_grad: none of its parameters gets a gradient.
        Assert.All(reward.Model.TextEncoder.parameters(), p => Assert.True(p.grad is null || p.grad.abs().max().item<float>() == 0));
    }

    [Fact]
    public void Fixture_weights_load_strictly_and_only_documented_keys_are_dropped()
    {
        using var f = Fixture.Load(Name);
        var cfg = InternVideo2Config.FromJson(f.Config);
        using var model = new InternVideo2Stage2(cfg);
        var loaded = model.Load(f.Weights).ToHashSet(StringComparer.Ordinal);
        var dropped = f.Config["weights"]!["dropped_by_loader"]!.AsArray().Select(k => k!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
        var notLoaded = f.Weights.Keys.Where(k => !loaded.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        Assert.Equal(dropped.OrderBy(k => k, StringComparer.Ordinal), notLoaded);
        Assert.All(notLoaded, k => Assert.Contains(InternVideo2Stage2.DroppedCheckpointPrefixes, p => k.StartsWith(p, StringComparison.Ordinal)));
        // A model of another depth fails with every mismatch listed.
        using var deeper = new InternVideo2Stage2(cfg with { vision = cfg.vision with { depth = cfg.vision.depth + 1 } });
        var ex = Assert.Throws<StateDictMismatchException>(() => deeper.Load(f.Weights));
        Assert.Contains($"blocks.{cfg.vision.depth}.", ex.Message);
    }

    [Fact]
    public void Reward_rejects_bad_inputs()
    {
        using var f = Fixture.Load(Name);
        using var reward = LoadReward(f);
        var video = f.In("video01").narrow(0, 0, 1);
        var prompt = Prompts(f)[0];
        Assert.Throws<ArgumentException>(() => reward.Score(video, new[] { prompt, prompt }));                    // 1 clip, 2 captions
        Assert.Throws<ArgumentException>(() => reward.Score(torch.cat(new[] { video, video }, 1), new[] { prompt })); // wrong T
        Assert.Throws<ArgumentException>(() => reward.Score(video.select(0, 0), new[] { prompt }));                // no batch dim
    }

    [Fact]
    public void Bfloat16_model_scores_close_to_float32()
    {
        // The reference runs the reward in half precision (fp16 weights, RMSNorm / LayerScale in fp32); the port must run
        // after a dtype cast (the int64 position_ids buffer stays an index) and stay near the float32 scores.
        using var f = Fixture.Load(Name);
        using var reward = LoadReward(f);
        reward.Model.to(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, reward.Model.parameters().First().dtype);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var (clips, captions) = Pairs(f);
        var score = reward.Score(clips.to(ScalarType.BFloat16), captions, FixtureCrop(f));
        Assert.Equal(ScalarType.BFloat16, score.dtype);
        Fixture.AssertClose(score.to(ScalarType.Float32), f.In("score"), $"{Name}/score (bfloat16 model)", 1e-2);
    }
}

/// <summary>The full-size InternVideo2-Stage2-1B reward model, built from the default config on the META device, holds
/// exactly the released checkpoint's keys and shapes (shared/reference/internvideo2_s2_1b_state_dict.json), except the
/// keys the loader drops; the BERT keys lose their "bert." level because the model holds BertModel directly.</summary>
[Collection(MetaDevice.Collection)]
public class InternVideo2FullSizeKeysTests
{
    private const string File = "internvideo2_s2_1b_state_dict.json";

    [Fact]
    public void Full_size_model_has_the_checkpoint_keys()
    {
        var path = Path.Combine(ReferenceKeys.Root, File);
        Assert.True(System.IO.File.Exists(path), $"reference key list is missing: {path}");
        var json = System.Text.Json.Nodes.JsonNode.Parse(System.IO.File.ReadAllText(path))!.AsObject();
        var dropped = json["dropped_by_loader"]!.AsArray().Select(n => n!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
        var reference = json["state_dict"]!.AsArray()
            .Select(n => (Key: n!["name"]!.GetValue<string>(), Shape: n["shape"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray()))
            .ToList();
        Assert.Equal(json["n_tensors"]!.GetValue<int>(), reference.Count);
        Assert.All(dropped, k => Assert.Contains(reference, r => r.Key == k));
        var expected = reference.Where(r => !dropped.Contains(r.Key))
            .ToDictionary(r => r.Key.StartsWith("text_encoder.bert.", StringComparison.Ordinal) ? "text_encoder." + r.Key["text_encoder.bert.".Length..] : r.Key,
                          r => r.Shape, StringComparer.Ordinal);

        using var model = MetaDevice.Build(() => new InternVideo2Stage2());
        var actual = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);
        var missing = expected.Keys.Where(k => !actual.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var unexpected = actual.Keys.Where(k => !expected.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var shapes = expected.Where(kv => actual.TryGetValue(kv.Key, out var s) && !s.SequenceEqual(kv.Value))
            .Select(kv => $"{kv.Key}: reference [{string.Join(",", kv.Value)}] vs model [{string.Join(",", actual[kv.Key])}]").ToList();
        Assert.True(missing.Count + unexpected.Count + shapes.Count == 0,
            $"{missing.Count} missing, {unexpected.Count} unexpected, {shapes.Count} shape mismatches:\n  " +
            string.Join("\n  ", missing.Take(20).Select(k => "missing: " + k).Concat(unexpected.Take(20).Select(k => "unexpected: " + k)).Concat(shapes.Take(20))));
        Assert.Equal(6144, model.Config.vision.MlpHidden);
    }
}
