using System.Text.Json.Nodes;
using T2VTurbo.Models.Unet;
using T2VTurbo.Tests.Support;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>The full-size UNet, built on the meta device (no memory), against the real checkpoint's key list
/// (reference/videocrafter2_keys.json) and the released LoRA's module order (spec/vc2_v1_lora_module_order.tsv).</summary>
public class UnetFullSizeKeysTests
{
    private const string UnetPrefix = "model.diffusion_model.";

    [Fact]
    public void Teacher_state_dict_equals_checkpoint_keys_shapes_and_order()
    {
        var expected = CheckpointUnetKeys();
        using var unet = new Unet3D(new UnetConfig(), device: torch.META);
        AssertOnMetaOnly(unet);
        AssertSameKeys(expected, StateDictShapes(unet), "VC2 teacher");
        Assert.Equal(1413284420L, unet.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Turbo_student_state_dict_equals_checkpoint_keys_plus_extra_keys()
    {
        var reference = ReferenceKeysJson();
        var extras = reference["t2v_turbo_unet"]!["extra_keys"]!.AsArray()
            .Select(e => (Key: e!["key"]!.GetValue<string>(), Shape: Shape(e["shape"]!))).ToList();
        // The reference registers time_cond_proj, motion_cond_proj, combine_proj right after fps_embedding.
        var baseKeys = CheckpointUnetKeys();
        int insertAt = baseKeys.FindLastIndex(k => k.Key.StartsWith("fps_embedding.", StringComparison.Ordinal)) + 1;
        var expected = baseKeys.Take(insertAt).Concat(extras).Concat(baseKeys.Skip(insertAt)).ToList();

        using var unet = new Unet3D(UnetConfig.Turbo, device: torch.META);
        AssertOnMetaOnly(unet);
        AssertSameKeys(expected, StateDictShapes(unet), "T2V-Turbo v2 student");
        Assert.Equal(reference["t2v_turbo_unet"]!["total_parameters"]!.GetValue<long>(), unet.parameters().Sum(p => p.numel()));

    }

    [Fact]
    public void Real_layout_at_reduced_width_runs_and_keeps_the_checkpoint_key_names()
    {
        // libtorch has no meta kernel for convolution, so the full-size forward cannot run on META. The real layout
        // (4 levels, 2 res blocks, attention at 1/1, 1/2, 1/4, init_attn, fps, w and motion inputs) at width 32 has
        // the same key names and exercises every skip/upsample connection: 2 videos, 3 frames, 16x24 latents.
        var cfg = UnetConfig.Turbo with { model_channels = 32, num_head_channels = 8, context_dim = 16 };
        using var unet = new Unet3D(cfg);
        unet.eval();
        var expected = CheckpointUnetKeys().Select(k => k.Key).ToList();
        int insertAt = expected.FindLastIndex(k => k.StartsWith("fps_embedding.", StringComparison.Ordinal)) + 1;
        expected.InsertRange(insertAt, ["time_cond_proj.weight", "motion_cond_proj.weight", "combine_proj.weight"]);
        AssertSameSequence(expected, unet.state_dict().Keys.ToList(), "reduced-width key names");

        using var noGrad = torch.no_grad();
        torch.manual_seed(3);
        using var y = unet.forward(torch.randn([2, 4, 3, 16, 24]), torch.tensor(new long[] { 999, 250 }), torch.randn([2, 5, 16]),
            torch.tensor(new long[] { 8, 16 }), torch.randn([2, 256]), torch.randn([2, 256]));
        Assert.Equal(new long[] { 2, 4, 3, 16, 24 }, y.shape);
        Assert.True(y.isfinite().all().item<bool>());
    }

    [Fact]
    public void Lora_target_modules_follow_the_released_order()
    {
        var lines = File.ReadAllLines(Path.Combine(SharedDir("spec"), "vc2_v1_lora_module_order.tsv"))
            .Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => l.Split('\t')).ToList();
        var expected = lines.Select(c => $"{c[0]} {c[1]} {c[2]} {c[3]}").ToList();

        // T2V-Turbo v1 student: time_cond_proj without the motion layers; LoRA targets Linear, Conv2d and Conv3d, listed in
        // PyTorch's depth-first module order (TorchSharp's named_modules() is breadth-first per level).
        using var unet = new Unet3D(new UnetConfig { time_cond_proj_dim = 256 }, device: torch.META);
        var actual = new List<string>();
        foreach (var (name, module) in unet.NamedModulesPreOrder())
        {
            string? row = module switch
            {
                Linear l => $"{name} Linear in={l.weight!.shape[1]} out={l.weight.shape[0]}",
                Conv2d c => $"{name} Conv2d in={c.weight!.shape[1]} out={c.weight.shape[0]}",
                Conv3d c => $"{name} Conv3d in={c.weight!.shape[1]} out={c.weight.shape[0]}",
                _ => null,
            };
            if (row is not null) actual.Add(row);
        }
        AssertSameSequence(expected, actual, "LoRA target modules");
    }

    private static void AssertOnMetaOnly(Unet3D unet)
    {
        var real = unet.named_parameters().Where(p => p.parameter.device_type != DeviceType.META).Select(p => p.name).ToList();
        Assert.True(real.Count == 0, $"parameters allocated off the meta device: {string.Join(", ", real.Take(10))}");
    }

    private static List<(string Key, long[] Shape)> StateDictShapes(Unet3D unet) =>
        unet.state_dict().Select(kv => (kv.Key, kv.Value.shape)).ToList();

    private static void AssertSameKeys(List<(string Key, long[] Shape)> expected, List<(string Key, long[] Shape)> actual, string what)
    {
        var expectedSet = expected.Select(e => e.Key).ToHashSet();
        var actualSet = actual.Select(a => a.Key).ToHashSet();
        var missing = expected.Where(e => !actualSet.Contains(e.Key)).Select(e => e.Key).ToList();
        var unexpected = actual.Where(a => !expectedSet.Contains(a.Key)).Select(a => a.Key).ToList();
        Assert.True(missing.Count == 0 && unexpected.Count == 0,
            $"{what}: {missing.Count} missing keys ({string.Join(", ", missing.Take(10))}), {unexpected.Count} unexpected ({string.Join(", ", unexpected.Take(10))})");
        var shapes = actual.ToDictionary(a => a.Key, a => a.Shape);
        var wrong = expected.Where(e => !shapes[e.Key].SequenceEqual(e.Shape))
            .Select(e => $"{e.Key}: [{string.Join(",", shapes[e.Key])}] vs checkpoint [{string.Join(",", e.Shape)}]").ToList();
        Assert.True(wrong.Count == 0, $"{what}: {wrong.Count} shape mismatches: {string.Join("; ", wrong.Take(10))}");
        AssertSameSequence(expected.Select(e => e.Key).ToList(), actual.Select(a => a.Key).ToList(), $"{what} key order");
    }

    private static void AssertSameSequence(List<string> expected, List<string> actual, string what)
    {
        int n = Math.Min(expected.Count, actual.Count);
        for (int i = 0; i < n; i++)
            Assert.True(expected[i] == actual[i], $"{what}: first difference at #{i}: expected '{expected[i]}', got '{actual[i]}'");
        Assert.True(expected.Count == actual.Count, $"{what}: {actual.Count} entries, expected {expected.Count}");
    }

    private static List<(string Key, long[] Shape)> CheckpointUnetKeys() =>
        ReferenceKeysJson()["keys"]!.AsArray()
            .Select(e => (Key: e!["key"]!.GetValue<string>(), Shape: Shape(e["shape"]!)))
            .Where(e => e.Key.StartsWith(UnetPrefix, StringComparison.Ordinal))
            .Select(e => (e.Key[UnetPrefix.Length..], e.Shape)).ToList();

    private static long[] Shape(JsonNode node) => node.AsArray().Select(x => x!.GetValue<long>()).ToArray();

    private static JsonObject ReferenceKeysJson() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(SharedDir("reference"), "videocrafter2_keys.json")))!.AsObject();

    /// <summary>shared/&lt;name&gt;: next to the fixtures folder, else the nearest ancestor's shared/&lt;name&gt;.</summary>
    private static string SharedDir(string name)
    {
        var besideFixtures = Path.GetFullPath(Path.Combine(Fixture.Root, "..", name));
        if (Directory.Exists(besideFixtures)) return besideFixtures;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "shared", name);
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException($"shared/{name} not found beside {Fixture.Root} or above the test binaries");
    }
}
