using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Lora;
using T2VTurbo.Models.ModelScope;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>Fixture "lora_ms": T2V-Turbo (MS) LoRA on the ModelScope UNet — the official list file, injection, merge,
/// and the target order (which puts up_blocks before mid_block).</summary>
public class LoraMsTests
{
    private const double Tol = 1e-4;

    private static UnetMs BaseUnet(Fixture f)
    {
        var cfg = UnetMsConfig.FromJson(f.Config["unet_config"]!.AsObject()) with { time_cond_proj_dim = f.Config["time_cond_proj_dim"]!.GetValue<long>() };
        var unet = new UnetMs(cfg);
        unet.LoadFrom(f.Weights, f.Prefix);
        unet.eval();
        return unet;
    }

    private static Tensor Run(UnetMs unet, Fixture f) =>
        unet.forward(f.In("x"), f.In("timesteps"), f.In("encoder_hidden_states"), f.In("timestep_cond"));

    /// <summary>The time embedding as the blocks see it: [(B·T), E], repeated per frame.</summary>
    private static Tensor Emb(UnetMs unet, Fixture f)
    {
        using var ts = f.In("timesteps");
        using var tc = f.In("timestep_cond");
        long frames = f.In("x").shape[2];
        using var e = unet.Embed(ts, ts.shape[0], tc);
        return e.repeat_interleave(frames, 0);
    }

    [Fact]
    public void Official_list_file_injected_then_merged_matches_reference()
    {
        using var f = Fixture.Load("lora_ms");
        using var _ = torch.no_grad();
        using var unet = BaseUnet(f);
        using (var yBase = Run(unet, f)) f.AssertClose(yBase, "y_base", Tol);
        using (var eBase = Emb(unet, f)) f.AssertClose(eBase, "emb_base", Tol);

        var list = TorchCheckpoint.ReadTensorList(f.File("unet_lora.pt"));
        Assert.Equal(f.Config["lora"]!["n_tensors_in_pt"]!.GetValue<int>(), list.Count);
        using var weights = LoraWeights.FromList(list, unet, "unet_lora.pt");

        using (var injected = LoraInjection.FromWeights(unet, weights))
        {
            injected.eval();
            using var yLora = Run(unet, f);
            f.AssertClose(yLora, "y_lora", Tol);
            using (var eLora = Emb(unet, f)) f.AssertClose(eLora, "emb_lora", Tol);
            injected.MergeAndRemove(unet);
            using var yMerged = Run(unet, f);
            f.AssertClose(yMerged, "y_merged", Tol);
            Fixture.AssertClose(yMerged, yLora, "lora_ms/y_merged vs injected y_lora", Tol);
        }
        using (var eMerged = Emb(unet, f)) f.AssertClose(eMerged, "emb_merged", Tol);
        var examples = f.Io.Keys.Where(k => k.StartsWith("merged_example/", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(examples);
        foreach (var key in examples)
            f.AssertClose((Tensor)unet.get_parameter(key["merged_example/".Length..])!, key, 1e-6);
    }

    [Fact]
    public void Targets_follow_the_fixture_order_ranks_and_shapes()
    {
        using var f = Fixture.Load("lora_ms");
        using var unet = BaseUnet(f);
        var order = JsonNode.Parse(File.ReadAllText(f.File("lora_order.json")))!.AsArray();
        var targets = LoraTargets.Find(unet);
        long r = f.Config["lora"]!["r"]!.GetValue<long>();
        Assert.Equal(f.Config["lora"]!["n_modules"]!.GetValue<int>(), targets.Count);
        Assert.Equal(order.Count, targets.Count);
        for (int i = 0; i < order.Count; i++)
        {
            var o = order[i]!;
            Assert.Equal(o["module"]!.GetValue<string>(), targets[i].Name);
            Assert.Equal(o["base_class"]!.GetValue<string>(), targets[i].Kind);
            Assert.Equal(o["base_weight_shape"]!.AsArray().Select(x => x!.GetValue<long>()), targets[i].WeightShape);
            long rank = targets[i].RankFor(r);
            Assert.Equal(o["rank"]!.GetValue<long>(), rank);
            Assert.Equal(o["up_shape"]!.AsArray().Select(x => x!.GetValue<long>()), targets[i].UpShape(rank));
            Assert.Equal(o["down_shape"]!.AsArray().Select(x => x!.GetValue<long>()), targets[i].DownShape(rank));
        }
    }

    [Fact]
    public void Named_safetensors_form_equals_the_list_form()
    {
        using var f = Fixture.Load("lora_ms");
        using var unet = BaseUnet(f);
        using var fromList = LoraWeights.FromList(TorchCheckpoint.ReadTensorList(f.File("unet_lora.pt")), unet, "unet_lora.pt");
        using var fromNamed = LoraWeights.Read(f.File("unet_lora.safetensors"), unet);
        Assert.Equal(fromList.Pairs.Keys.OrderBy(k => k), fromNamed.Pairs.Keys.OrderBy(k => k));
        foreach (var (name, p) in fromList.Pairs)
        {
            Assert.True(p.Up.eq(fromNamed.Pairs[name].Up).all().item<bool>(), name);
            Assert.True(p.Down.eq(fromNamed.Pairs[name].Down).all().item<bool>(), name);
        }
    }
}
