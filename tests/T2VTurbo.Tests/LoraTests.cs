using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Lora;
using T2VTurbo.Models.Unet;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>Fixture "lora": T2V-Turbo v1 LoRA on the VC2 UNet — the official list file, injection, merge.</summary>
public class LoraTests
{
    private const string Prefix = "model.diffusion_model.";

    private static Unet3D BaseUnet(Fixture f)
    {
        var unet = new Unet3D(UnetConfig.FromJson(f.Config["unet_config"]!.AsObject()));
        unet.LoadFrom(f.Weights, Prefix);
        unet.eval();
        return unet;
    }

    private static Tensor Run(Unet3D unet, Fixture f) =>
        unet.forward(f.In("x"), f.In("timesteps"), f.In("context"), f.Config["inputs"]!["fps"]!.GetValue<long>(), f.In("timestep_cond"));

    private static Tensor Emb(Unet3D unet, Fixture f)
    {
        using var ts = f.In("timesteps");
        using var tc = f.In("timestep_cond");
        long frames = f.In("x").shape[2];
        using var fps = torch.tensor(f.Config["inputs"]!["fps"]!.GetValue<long>());
        using var e = unet.Embed(ts, ts.shape[0], fps, tc);
        return e.repeat_interleave(frames, 0);                           // [(B·T), E], as the blocks see it
    }

    [Fact]
    public void Official_list_file_injected_then_merged_matches_reference()
    {
        using var f = Fixture.Load("lora");
        using var _ = torch.no_grad();
        using var unet = BaseUnet(f);
        f.AssertClose(Run(unet, f), "y_base", 1e-4);
        f.AssertClose(Emb(unet, f), "emb_base", 1e-4);

        var list = TorchCheckpoint.ReadTensorList(f.File("unet_lora.pt"));
        Assert.Equal(f.Config["lora"]!["n_tensors_in_pt"]!.GetValue<int>(), list.Count);
        using var weights = LoraWeights.FromList(list, unet, "unet_lora.pt");

        using (var injected = LoraInjection.FromWeights(unet, weights))
        {
            injected.eval();
            f.AssertClose(Run(unet, f), "y_lora", 1e-4);
            f.AssertClose(Emb(unet, f), "emb_lora", 1e-4);
            using var yLora = Run(unet, f);
            injected.MergeAndRemove(unet);
            using var yMerged = Run(unet, f);
            f.AssertClose(yMerged, "y_merged", 1e-4);
            Fixture.AssertClose(yMerged, yLora, "lora/y_merged vs injected y_lora", 1e-4);
        }
        f.AssertClose(Emb(unet, f), "emb_merged", 1e-4);
        foreach (var key in f.Io.Keys.Where(k => k.StartsWith("merged_example/", StringComparison.Ordinal)))
            f.AssertClose((Tensor)unet.get_parameter(key["merged_example/".Length..])!, key, 1e-6);
    }

    [Fact]
    public void Targets_follow_the_fixture_order_ranks_and_shapes()
    {
        using var f = Fixture.Load("lora");
        using var unet = BaseUnet(f);
        var order = JsonNode.Parse(File.ReadAllText(f.File("lora_order.json")))!.AsArray();
        var targets = LoraTargets.Find(unet);
        long r = f.Config["lora"]!["r"]!.GetValue<long>();
        Assert.Equal(order.Count, targets.Count);
        for (int i = 0; i < order.Count; i++)
        {
            var o = order[i]!;
            Assert.Equal(o["module"]!.GetValue<string>(), targets[i].Name);
            Assert.Equal(o["base_class"]!.GetValue<string>(), targets[i].Kind);
            long rank = targets[i].RankFor(r);
            Assert.Equal(o["rank"]!.GetValue<long>(), rank);
            Assert.Equal(o["up_shape"]!.AsArray().Select(x => x!.GetValue<long>()), targets[i].UpShape(rank));
            Assert.Equal(o["down_shape"]!.AsArray().Select(x => x!.GetValue<long>()), targets[i].DownShape(rank));
        }
    }

    [Fact]
    public void Named_safetensors_form_equals_the_list_form_and_round_trips()
    {
        using var f = Fixture.Load("lora");
        using var unet = BaseUnet(f);
        using var fromList = LoraWeights.FromList(TorchCheckpoint.ReadTensorList(f.File("unet_lora.pt")), unet, "unet_lora.pt");
        using var fromNamed = LoraWeights.Read(f.File("unet_lora.safetensors"), unet);
        Assert.Equal(fromList.Pairs.Keys.OrderBy(k => k), fromNamed.Pairs.Keys.OrderBy(k => k));
        foreach (var (name, p) in fromList.Pairs)
        {
            Assert.True(p.Up.eq(fromNamed.Pairs[name].Up).all().item<bool>(), name);
            Assert.True(p.Down.eq(fromNamed.Pairs[name].Down).all().item<bool>(), name);
        }
        var path = Path.Combine(Path.GetTempPath(), $"lora-{Guid.NewGuid():N}.safetensors");
        try
        {
            SafeTensors.Save(path, fromList.ToNamed());
            using var back = LoraWeights.Read(path, unet);
            Assert.Equal(fromList.Pairs.Count, back.Pairs.Count);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void A_list_for_another_architecture_fails_naming_the_module()
    {
        using var f = Fixture.Load("lora");
        using var unet = BaseUnet(f);
        var list = TorchCheckpoint.ReadTensorList(f.File("unet_lora.pt")).ToList();
        (list[10], list[12]) = (list[12], list[10]);                   // shapes no longer fit their modules
        var e = Assert.Throws<InvalidDataException>(() => LoraWeights.FromList(list, unet, "bad.pt"));
        Assert.Contains("module #5", e.Message);
        var e2 = Assert.Throws<InvalidDataException>(() => LoraWeights.FromList(list.Take(10).ToList(), unet, "short.pt"));
        Assert.Contains("10 tensors", e2.Message);
    }
}
