using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Tests.Support;
using T2VTurbo.Text;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>Parity with transformers' CLIPTextModel, the ModelScope text encoder — fixture text_ms.</summary>
public class HfClipTextModelTests
{
    private const double Tol = 1e-4;

    internal static HfClipTextModel LoadModel(Fixture f)
    {
        var model = new HfClipTextModel(HfClipTextConfig.FromJson(f.Config)).LoadWeights(f.Weights, f.Prefix);
        model.eval();
        return model;
    }

    /// <summary>The MS tokenizer (HF CLIPTokenizer, pad "!") over the clip_tokenizer fixture's vocab.json / merges.txt.</summary>
    internal static ClipTokenizer Tokenizer(Fixture f)
    {
        string File(string name)
        {
            var p = Path.Combine(Fixture.Root, "clip_tokenizer", name);
            Assert.True(System.IO.File.Exists(p), $"fixture file is missing: {p}");
            return p;
        }
        var maxLength = f.Config["tokenizer_config_json"]?["model_max_length"]?.GetValue<int>() ?? ClipTokenizerOptions.HuggingFace.ContextLength;
        return ClipTokenizer.FromFiles(File("vocab.json"), File("merges.txt"), ClipTokenizerOptions.HuggingFace with { ContextLength = maxLength });
    }

    [Fact]
    public void Config_reads_hf_names()
    {
        using var f = Fixture.Load("text_ms");
        var cfg = HfClipTextConfig.FromJson(f.Config);
        var j = f.Config["text_encoder_config"]!.AsObject();
        Assert.Equal(j["hidden_size"]!.GetValue<int>(), cfg.hidden_size);
        Assert.Equal(j["num_hidden_layers"]!.GetValue<int>(), cfg.num_hidden_layers);
        Assert.Equal(j["num_attention_heads"]!.GetValue<int>(), cfg.num_attention_heads);
        Assert.Equal(j["intermediate_size"]!.GetValue<int>(), cfg.intermediate_size);
        Assert.Equal(j["max_position_embeddings"]!.GetValue<int>(), cfg.max_position_embeddings);
        Assert.Equal(j["vocab_size"]!.GetValue<int>(), cfg.vocab_size);
        Assert.Equal(j["hidden_act"]!.GetValue<string>(), cfg.hidden_act);
        Assert.Equal(j["layer_norm_eps"]!.GetValue<double>(), cfg.layer_norm_eps);
        // The defaults are the real MS text_encoder/config.json (23 layers, gelu).
        Assert.Equal(new HfClipTextConfig(), HfClipTextConfig.FromJson(f.Config["real_text_encoder_config"]!.AsObject()));
        Assert.Equal(23, new HfClipTextConfig().num_hidden_layers);
    }

    [Fact]
    public void Embeddings_and_every_layer_match_reference()
    {
        using var f = Fixture.Load("text_ms");
        using var model = LoadModel(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var x = model.Embed(f.In("input_ids"));
        f.AssertClose(x, "embeddings_out", Tol);
        var layers = model.TextModel.Layers;
        for (int i = 0; i < layers.Count; i++)
        {
            x = layers[i].forward(x);
            f.AssertClose(x, $"after_layer_{i}", Tol);
        }
        f.AssertClose(model.TextModel.FinalLayerNorm.forward(x), "output", Tol);
    }

    [Fact]
    public void Last_hidden_state_and_pooled_output_match_reference()
    {
        using var f = Fixture.Load("text_ms");
        using var model = LoadModel(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var ids = f.In("input_ids");
        var y = model.forward(ids);
        f.AssertClose(y, "output", Tol);
        f.AssertClose(model.Pool(y, ids), "pooled_output", Tol);
    }

    /// <summary>Prompt text → MS tokenizer → ids (exactly the fixture's input_ids) → embeddings.</summary>
    [Fact]
    public void Prompts_to_embeddings_end_to_end()
    {
        using var f = Fixture.Load("text_ms");
        using var model = LoadModel(f);
        var cases = JsonNode.Parse(File.ReadAllText(f.File("tokenizer_cases.json")))!["cases"]!.AsArray();
        var prompts = f.IntList("batch_case_indices").Select(i => cases[(int)i]!["text"]!.GetValue<string>()).ToList();
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var ids = Tokenizer(f).Tokenize(prompts);
        var expectedIds = f.In("input_ids").to(ScalarType.Int64);
        Assert.True(ids.shape.SequenceEqual(expectedIds.shape) && ids.equal(expectedIds).all().item<bool>(), "tokenizer ids differ from the fixture's input_ids");
        Fixture.AssertClose(model.forward(ids), f.In("output"), "text_ms/output (from prompt text)", Tol);
    }

    /// <summary>Causal mask only: the first L rows of a 77-token encoding are the encoding of the first L tokens, and a
    /// batch of one equals its row of the batch.</summary>
    [Fact]
    public void Shorter_sequences_and_single_rows_agree_with_the_batch()
    {
        using var f = Fixture.Load("text_ms");
        using var model = LoadModel(f);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var ids = f.In("input_ids");
        var full = f.In("output");
        long l = Math.Max(1, ids.shape[1] / 3);
        Fixture.AssertClose(model.forward(ids.narrow(1, 0, l)), full.narrow(1, 0, l), $"text_ms/output[:, :{l}] (causal prefix)", Tol);
        long last = ids.shape[0] - 1;
        Fixture.AssertClose(model.forward(ids.narrow(0, last, 1)), full.narrow(0, last, 1), $"text_ms/output[{last}] (alone)", Tol);
    }

    /// <summary>HF CLIPTextModel with N−1 layers == FrozenOpenCLIPEmbedder("penultimate") with N layers, for the
    /// openclip_text fixture's weights renamed to HF keys (q/k/v = row thirds of in_proj) — the MS conversion.</summary>
    [Fact]
    public void Renamed_open_clip_weights_reproduce_the_penultimate_output()
    {
        using var f = Fixture.Load("openclip_text");
        using var scope = torch.NewDisposeScope();
        int width = f.Config["width"]!.GetValue<int>(), layers = f.Config["layers"]!.GetValue<int>();
        var cfg = new HfClipTextConfig
        {
            hidden_size = width,
            num_attention_heads = f.Config["heads"]!.GetValue<int>(),
            intermediate_size = (int)(width * (f.Config["mlp_ratio"]?.GetValue<double>() ?? 4.0)),
            num_hidden_layers = layers - 1,
            vocab_size = f.Config["vocab_size"]!.GetValue<int>(),
            max_position_embeddings = f.Config["context_length"]!.GetValue<int>(),
            layer_norm_eps = f.Config["layer_norm_eps"]?.GetValue<double>() ?? 1e-5,
        };
        string p = f.Prefix + "model.";
        Tensor W(string k) => f.Weights.Load(p + k);
        var hf = new Dictionary<string, Tensor>
        {
            ["text_model.embeddings.token_embedding.weight"] = W("token_embedding.weight"),
            ["text_model.embeddings.position_embedding.weight"] = W("positional_embedding"),
            ["text_model.final_layer_norm.weight"] = W("ln_final.weight"),
            ["text_model.final_layer_norm.bias"] = W("ln_final.bias"),
        };
        for (int i = 0; i < layers - 1; i++)
        {
            string oc = $"transformer.resblocks.{i}.", h = $"text_model.encoder.layers.{i}.";
            var (w, b) = (W(oc + "attn.in_proj_weight").chunk(3, 0), W(oc + "attn.in_proj_bias").chunk(3, 0));
            foreach (var (name, j) in new[] { ("q_proj", 0), ("k_proj", 1), ("v_proj", 2) })
            {
                hf[$"{h}self_attn.{name}.weight"] = w[j];
                hf[$"{h}self_attn.{name}.bias"] = b[j];
            }
            foreach (var (to, from) in new[] { ("self_attn.out_proj", "attn.out_proj"), ("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"), ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj") })
            {
                hf[$"{h}{to}.weight"] = W($"{oc}{from}.weight");
                hf[$"{h}{to}.bias"] = W($"{oc}{from}.bias");
            }
        }
        using var model = new HfClipTextModel(cfg).LoadWeights(new TensorDictSource(hf));
        using var _ = torch.no_grad();
        f.AssertClose(model.forward(f.In("tokens")), "output", Tol);
    }

    [Fact]
    public void Checkpoint_position_ids_are_ignored_and_unknown_keys_fail()
    {
        using var f = Fixture.Load("text_ms");
        using var scope = torch.NewDisposeScope();
        var cfg = HfClipTextConfig.FromJson(f.Config);
        var weights = f.Weights.Keys.ToDictionary(k => k, k => f.Weights.Load(k));
        weights["text_model.embeddings.position_ids"] = torch.arange(cfg.max_position_embeddings, dtype: ScalarType.Int64).unsqueeze(0);
        using (var withIds = new HfClipTextModel(cfg).LoadWeights(new TensorDictSource(weights)))
        using (var plain = LoadModel(f))
        using (torch.no_grad())
            Assert.True(withIds.forward(f.In("input_ids")).equal(plain.forward(f.In("input_ids"))).all().item<bool>());

        weights["text_model.text_projection.weight"] = torch.zeros(cfg.hidden_size, cfg.hidden_size);
        var ex = Assert.Throws<StateDictMismatchException>(() => new HfClipTextModel(cfg).LoadWeights(new TensorDictSource(weights)));
        Assert.Contains("text_model.text_projection.weight", ex.Message);
    }

    [Fact]
    public void Bad_inputs_and_configs_are_rejected()
    {
        using var f = Fixture.Load("text_ms");
        var cfg = HfClipTextConfig.FromJson(f.Config);
        using var model = new HfClipTextModel(cfg);
        using var scope = torch.NewDisposeScope();
        Assert.Contains("[2, " + (cfg.max_position_embeddings + 1) + "]",
            Assert.Throws<ArgumentException>(() => model.forward(torch.zeros(2, cfg.max_position_embeddings + 1, dtype: ScalarType.Int64))).Message);
        Assert.Throws<ArgumentException>(() => model.forward(torch.zeros(2, 5)));                                   // float ids
        Assert.Throws<ArgumentException>(() => model.forward(torch.zeros(5, dtype: ScalarType.Int64)));             // 1-D
        Assert.Contains($"{cfg.vocab_size}", Assert.Throws<ArgumentException>(() => model.forward(torch.full(1, 3, cfg.vocab_size, dtype: ScalarType.Int64))).Message);
        Assert.Throws<NotSupportedException>(() => new HfClipTextModel(cfg with { hidden_act = "relu" }));
        Assert.Throws<ArgumentException>(() => new HfClipTextModel(cfg with { num_attention_heads = cfg.hidden_size + 1 }));
    }

    [Fact]
    public void Activations_follow_transformers_formulas()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.linspace(-4, 4, 33, dtype: ScalarType.Float64);
        var erf = 0.5 * x * (1 + torch.special.erf(x / Math.Sqrt(2)));
        Fixture.AssertClose(HfClipMlp.Activation(x, "gelu"), erf, "gelu (erf)", 1e-12);
        Fixture.AssertClose(HfClipMlp.Activation(x, "quick_gelu"), x * torch.sigmoid(1.702 * x), "quick_gelu", 1e-12);
        // tanh GELU is within 1e-3 of the erf form and different from it.
        var tanh = HfClipMlp.Activation(x, "gelu_new");
        double d = (tanh - erf).abs().max().item<double>();
        Assert.InRange(d, 1e-6, 1e-3);
    }
}

/// <summary>The full-size MS text encoder (23 layers) has exactly the keys and shapes of text_encoder/pytorch_model.bin
/// (shared/reference/modelscope_t2v_keys.json, component "text_encoder"), apart from the position_ids buffer, which the
/// loader accepts and ignores.</summary>
[Collection(MetaDevice.Collection)]
public class HfClipTextFullSizeKeysTests
{
    [Fact]
    public void Ms_text_encoder_has_the_checkpoint_keys()
    {
        using var model = MetaDevice.Build(() => new HfClipTextModel());
        var all = ReferenceKeys.Load("", ReferenceKeys.ModelScope, "text_encoder");
        var ignored = all.Where(k => HfClipTextModel.IgnoredCheckpointKeys.Contains(k.Key)).ToList();
        Assert.Single(ignored);   // text_model.embeddings.position_ids, [1, 77]
        var expected = all.Where(k => !HfClipTextModel.IgnoredCheckpointKeys.Contains(k.Key)).ToDictionary(k => k.Key, k => k.Shape, StringComparer.Ordinal);
        var actual = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);
        var missing = expected.Keys.Except(actual.Keys).ToList();
        var unexpected = actual.Keys.Except(expected.Keys).ToList();
        var shapes = expected.Where(kv => actual.TryGetValue(kv.Key, out var s) && !s.SequenceEqual(kv.Value)).Select(kv => kv.Key).ToList();
        Assert.True(missing.Count + unexpected.Count + shapes.Count == 0,
            $"reference keys missing from the module: {string.Join(", ", missing.Take(10))}; module keys not in the reference: " +
            $"{string.Join(", ", unexpected.Take(10))}; shape mismatches: {string.Join(", ", shapes.Take(10))}");
        // The same checkpoint order as transformers registers the modules (first layer's keys).
        Assert.Equal(all.Select(k => k.Key).Where(expected.ContainsKey).Take(20), actual.Keys.Take(20));
        // A strict load of the whole reference list (position_ids included) succeeds on META.
        model.LoadWeights(new ShapeOnlySource(all, ReferenceKeys.ModelScope));
    }
}
