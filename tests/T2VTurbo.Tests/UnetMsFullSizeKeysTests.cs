using T2VTurbo.Lora;
using T2VTurbo.Models.ModelScope;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>The full-size ModelScope UNet (teacher and T2V-Turbo student), built on the META device, against the real
/// checkpoint's UNet keys (reference/modelscope_t2v_keys.json, component "unet") and the released T2V-Turbo-MS LoRA
/// module order (spec/ms_lora_module_order.tsv).</summary>
[Collection(MetaDevice.Collection)]
public class UnetMsFullSizeKeysTests
{
    private const string Component = "unet";

    [Fact]
    public void Teacher_has_the_checkpoint_keys_shapes_and_order()
    {
        using var unet = MetaDevice.Build(() => new UnetMs(new UnetMsConfig(), torch.META));
        ReferenceKeys.AssertMatches(unet, "", file: ReferenceKeys.ModelScope, component: Component);
        AssertSameSequence(ReferenceKeys.Load("", ReferenceKeys.ModelScope, Component).Select(k => k.Key).ToList(),
            unet.state_dict().Keys.ToList(), "teacher key order");
        Assert.Equal(1411233860L, unet.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Student_has_the_checkpoint_keys_plus_cond_proj()
    {
        var extra = ReferenceKeys.Extra("t2v_turbo_unet", ReferenceKeys.ModelScope);
        using var unet = MetaDevice.Build(() => new UnetMs(UnetMsConfig.Turbo, torch.META));
        ReferenceKeys.AssertMatches(unet, "", extra, ReferenceKeys.ModelScope, Component);
        // cond_proj is registered inside time_embedding between linear_1 and linear_2.
        var expected = ReferenceKeys.Load("", ReferenceKeys.ModelScope, Component).Select(k => k.Key).ToList();
        expected.Insert(expected.IndexOf("time_embedding.linear_1.bias") + 1, extra.Single().Key);
        AssertSameSequence(expected, unet.state_dict().Keys.ToList(), "student key order");
        Assert.Equal(1411315780L, unet.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Lora_targets_of_the_student_follow_the_released_order()
    {
        var lines = File.ReadAllLines(Path.Combine(SpecDir(), "ms_lora_module_order.tsv"));
        var header = lines.First(l => l.StartsWith('#'));
        long rank = long.Parse(header.Split(' ').First(w => w.StartsWith("rank=", StringComparison.Ordinal))["rank=".Length..]);
        var rows = lines.Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => l.Split('\t')).ToList();

        using var unet = MetaDevice.Build(() => new UnetMs(UnetMsConfig.Turbo, torch.META));
        var targets = LoraTargets.Find(unet);
        var expected = rows.Select(c => string.Join(" ", c)).ToList();
        var actual = targets.Select(t =>
        {
            long r = t.RankFor(rank);
            return $"{t.Name} {t.Kind} in={t.In} out={t.Out} r={r} up={Tuple(t.UpShape(r))} down={Tuple(t.DownShape(r))}";
        }).ToList();
        AssertSameSequence(expected, actual, "MS LoRA targets");
        long floats = targets.Sum(t => { long r = t.RankFor(rank); return t.UpShape(r).Aggregate(1L, (a, b) => a * b) + t.DownShape(r).Aggregate(1L, (a, b) => a * b); });
        long headerFloats = long.Parse(header.Split(' ').First(w => w.StartsWith("lora_params=", StringComparison.Ordinal))["lora_params=".Length..]);
        Assert.Equal(headerFloats, floats);
    }

    [Fact]
    public void Real_layout_at_reduced_width_runs_with_forced_upsample_sizes_and_keeps_the_key_names()
    {
        // libtorch has no META kernels for convolution, so the full-size forward cannot run here. The real layout (four
        // levels, three upsamplers, every block type) at widths 32/64/128/128 (the real 1:2:4:4 ratios, hence the same
        // shortcut convs) has the checkpoint's key names and exercises every skip: 2 videos, 3 frames, 13x10 latents
        // (not multiples of 8: three forced upsample sizes).
        var cfg = UnetMsConfig.Turbo with { block_out_channels = [32, 64, 128, 128], attention_head_dim = 16, cross_attention_dim = 24 };
        using var unet = new UnetMs(cfg);
        unet.eval();
        var expected = ReferenceKeys.Load("", ReferenceKeys.ModelScope, Component).Select(k => k.Key).ToList();
        expected.Insert(expected.IndexOf("time_embedding.linear_1.bias") + 1, "time_embedding.cond_proj.weight");
        AssertSameSequence(expected, unet.state_dict().Keys.ToList(), "reduced-width key names");

        using var noGrad = torch.no_grad();
        torch.manual_seed(5);
        using var y = unet.forward(torch.randn([2, 4, 3, 13, 10]), torch.tensor(new long[] { 999, 250 }), torch.randn([2, 7, 24]), torch.randn([2, 256]));
        Assert.Equal(new long[] { 2, 4, 3, 13, 10 }, y.shape);
        Assert.True(y.isfinite().all().item<bool>());
    }

    /// <summary>Python's tuple repr, as the tsv writes shapes: (320, 4, 1, 1).</summary>
    private static string Tuple(long[] shape) => $"({string.Join(", ", shape)})";

    private static void AssertSameSequence(List<string> expected, List<string> actual, string what)
    {
        int n = Math.Min(expected.Count, actual.Count);
        for (int i = 0; i < n; i++)
            Assert.True(expected[i] == actual[i], $"{what}: first difference at #{i}: expected '{expected[i]}', got '{actual[i]}'");
        Assert.True(expected.Count == actual.Count, $"{what}: {actual.Count} entries, expected {expected.Count}");
    }

    /// <summary>shared/spec: beside the reference folder.</summary>
    private static string SpecDir()
    {
        var dir = Path.GetFullPath(Path.Combine(ReferenceKeys.Root, "..", "spec"));
        Assert.True(Directory.Exists(dir), $"shared/spec not found beside {ReferenceKeys.Root}");
        return dir;
    }
}
