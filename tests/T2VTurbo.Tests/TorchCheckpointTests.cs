using System.Collections;
using System.Reflection;
using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Tests.Support;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

public partial class TorchCheckpointTests
{
    /// <summary>The official list format, written by real PyTorch (save_lora_weight), against the same data under names.</summary>
    [Theory]
    [InlineData("lora")]
    [InlineData("lora_ms")]
    public void Lora_list_file_matches_its_safetensors_twin_exactly(string fixture)
    {
        using var f = Fixture.Load(fixture);
        var order = JsonNode.Parse(File.ReadAllText(f.File("lora_order.json")))!.AsArray();
        using var named = new SafeTensorsFile(f.File("unet_lora.safetensors"));
        var list = TorchCheckpoint.ReadTensorList(f.File("unet_lora.pt"));
        try
        {
            Assert.Equal(2 * order.Count, list.Count);
            Assert.Equal(named.Keys.Count(), list.Count);
            double worst = 0;
            foreach (var m in order)
            {
                int i = m!["index"]!.GetValue<int>();
                string module = m["module"]!.GetValue<string>();
                foreach (var (slot, kind) in new[] { (2 * i, "lora_up"), (2 * i + 1, "lora_down") })
                {
                    using var scope = torch.NewDisposeScope();
                    var expected = named.Load($"{module}.{kind}.weight");
                    var actual = list[slot];
                    Assert.Equal(ScalarType.Float32, actual.dtype);
                    Assert.True(Same(actual, expected), $"list[{slot}] != {module}.{kind}.weight");
                    worst = Math.Max(worst, (actual - expected).abs().max().item<float>());
                }
            }
            MeasuredErrors.Record($"{fixture}/unet_lora.pt (all {list.Count} tensors vs unet_lora.safetensors)", worst);
        }
        finally
        {
            foreach (var t in list) t.Dispose();
        }
    }

    [Fact]
    public void Lora_list_file_is_refused_as_a_state_dict_with_a_hint()
    {
        using var f = Fixture.Load("lora");
        var e = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.OpenStateDict(f.File("unet_lora.pt")));
        Assert.Contains("pickled list of", e.Message);
        Assert.Contains("ReadTensorList", e.Message);
        var viaOpen = Assert.Throws<InvalidDataException>(() => Checkpoint.Open(f.File("unet_lora.pt")));
        Assert.Contains("LoRA", viaOpen.Message);
    }

    [Fact]
    public void PyBridge_state_dict_round_trips_every_dtype()
    {
        using var dir = new TempDir();
        var tensors = SampleTensors();
        var path = dir.File("sd.pt");
        PyBridgeSave(path, ToHashtable(tensors));

        using var src = TorchCheckpoint.OpenStateDict(path);
        Assert.Equal(tensors.Keys.OrderBy(k => k), src.Keys.OrderBy(k => k));
        foreach (var (k, t) in tensors)
        {
            Assert.Equal(t.shape, src.Shape(k));
            using var r = src.Load(k);
            Assert.Equal(t.dtype, r.dtype);
            Assert.True(Same(t, r), k);
        }
        using var half = src.Load("f32", ScalarType.Float16);
        Assert.Equal(ScalarType.Float16, half.dtype);
        using var stillInt = src.Load("i64", ScalarType.Float16);   // dtype applies to floating tensors only
        Assert.Equal(ScalarType.Int64, stillInt.dtype);
        Assert.Throws<KeyNotFoundException>(() => src.Load("nope"));
    }

    [Fact]
    public void Module_saved_with_save_py_loads_into_a_fresh_module()
    {
        using var dir = new TempDir();
        var path = dir.File("linear.pt");
        using var saved = nn.Sequential(("0", nn.Linear(5, 3)), ("1", nn.LayerNorm(3)));
        saved.save_py(path);
        using var loaded = nn.Sequential(("0", nn.Linear(5, 3)), ("1", nn.LayerNorm(3)));
        using (var src = Checkpoint.Open(path)) loaded.LoadFrom(src, "");
        foreach (var (name, p) in saved.state_dict())
            Assert.True(Same(p, loaded.state_dict()[name]), name);
    }

    [Fact]
    public void Lightning_layout_reads_the_nested_state_dict_and_ignores_the_rest()
    {
        using var dir = new TempDir();
        var tensors = SampleTensors();
        var path = dir.File("model.ckpt");
        var root = new Hashtable
        {
            ["state_dict"] = ToHashtable(tensors),
            ["epoch"] = 7,
            ["global_step"] = 1234L,
            ["pytorch-lightning_version"] = "1.9.0",
            ["optimizer_states"] = new Hashtable { ["lr"] = 1e-4, ["ema"] = torch.ones(2) },
        };
        PyBridgeSave(path, root);

        using var src = TorchCheckpoint.OpenStateDict(path);
        Assert.Equal(tensors.Keys.OrderBy(k => k), src.Keys.OrderBy(k => k));
        foreach (var (k, t) in tensors)
        {
            using var r = src.Load(k);
            Assert.True(Same(t, r), k);
        }
    }

    [Theory]
    [InlineData("module")]   // InternVideo2's released checkpoint
    [InlineData("model")]    // ViCLIP's
    public void State_dict_nested_under_module_or_model_is_found(string key)
    {
        using var dir = new TempDir();
        var tensors = SampleTensors();
        var path = dir.File("rm.pt");
        PyBridgeSave(path, new Hashtable { [key] = ToHashtable(tensors), ["epoch"] = 3 });
        using var src = TorchCheckpoint.OpenStateDict(path);
        Assert.Equal(tensors.Keys.OrderBy(k => k), src.Keys.OrderBy(k => k));
    }

    [Fact]
    public void Non_tensor_entries_of_a_state_dict_are_skipped()
    {
        using var dir = new TempDir();
        var path = dir.File("mixed.pt");
        var p = new PickleBuilder().Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark()
            .Str("w").Tensor("FloatStorage", "0", 4, 0, [2, 2], [2, 1])
            .Str("version").Int(3)
            .Str("note").Str("text")
            .SetItems().Finish();
        TorchZipWriter.Write(path, p, new Dictionary<string, byte[]> { ["0"] = Floats(1, 2, 3, 4) });
        using var src = TorchCheckpoint.OpenStateDict(path);
        Assert.Equal(["w"], src.Keys);
        using var w = src.Load("w");
        Assert.Equal(new float[] { 1, 2, 3, 4 }, w.data<float>().ToArray());
    }

    /// <summary>What a Lightning checkpoint may carry next to its weights: bytes (_codecs.encode), torch.Size, dtypes,
    /// sets, big ints, floats, a parameter with its state dict _metadata (BUILD), protocol-4 opcodes, and a memo
    /// reference that makes the top-level dict contain itself.</summary>
    [Fact]
    public void Lightning_extras_and_protocol_4_opcodes_are_read_as_data()
    {
        using var dir = new TempDir();
        var path = dir.File("extras.ckpt");
        using var bf16 = torch.tensor(new[] { 1.5f, -2f, 3.25f }).to(ScalarType.BFloat16);
        TorchZipWriter.Write(path, LightningExtrasPickle(), new Dictionary<string, byte[]> { ["0"] = bf16.bytes.ToArray() });

        using var src = Checkpoint.Open(path);
        Assert.Equal(["p"], src.Keys);
        using var loaded = src.Load("p");
        using var expected = bf16.narrow(0, 1, 2);
        Assert.True(Same(expected, loaded));
    }

    /// <summary>A Lightning-like pickle over one BFloat16 storage '0' of 3 elements; "state_dict" holds "p" = elements 1..2.</summary>
    private static byte[] LightningExtrasPickle()
    {
        var lr = BitConverter.GetBytes(1e-4);
        Array.Reverse(lr);   // BINFLOAT is big-endian
        return new PickleBuilder().EmptyDict().Raw(0x94).Mark()                       // MEMOIZE -> memo[0] = root
            .ShortStr("state_dict").Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark()
                .Str("p").Global("torch._utils", "_rebuild_parameter").Mark()
                    .Tensor("BFloat16Storage", "0", 3, 1, [2], [1]).Raw(0x88).Global("collections", "OrderedDict").EmptyTuple().Reduce()
                .Tuple().Reduce()
            .SetItems()
            .EmptyDict().Mark().Str("_metadata").EmptyDict().Mark().Str("").EmptyDict().Mark().Str("version").Int(1)
                .SetItems().SetItems().SetItems().Op('b')                               // BUILD: OrderedDict._metadata
            .Str("blob").Global("_codecs", "encode").Mark().Str("\u00ff\u0001").Str("latin1").Tuple().Reduce()
            .Str("shape").Global("torch", "Size").Mark().IntTuple([2, 3]).Tuple().Reduce()
            .Str("dtype").ShortStr("torch").ShortStr("float16").Raw(0x93)               // STACK_GLOBAL
            .Str("tags").Global("builtins", "set").Mark().EmptyList().Mark().Str("a").Appends().Tuple().Reduce()
            .Str("big").Raw(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1)                        // LONG1 2**64
            .Str("lr").Op('G').Raw(lr)
            .Str("self").Raw((byte)'h', 0)                                              // BINGET 0: the root itself
            .SetItems().Finish();
    }

    [Fact]
    public void Shared_storage_and_strided_views_load_like_as_strided()
    {
        using var dir = new TempDir();
        var path = dir.File("views.pt");
        using var storage = torch.arange(24, dtype: ScalarType.Float32);
        var views = new (string Name, long Offset, long[] Size, long[] Stride)[]
        {
            ("full", 0, [4, 6], [6, 1]),
            ("transposed", 0, [6, 4], [1, 6]),
            ("block", 7, [2, 3], [6, 1]),
            ("every_8th", 1, [3], [8]),
            ("broadcast", 4, [3, 2], [0, 1]),
            ("empty", 5, [0, 3], [3, 1]),
            ("scalar", 23, [], []),
        };
        var b = new PickleBuilder().EmptyDict().Mark();
        foreach (var v in views) b.Str(v.Name).Tensor("FloatStorage", "0", 24, v.Offset, v.Size, v.Stride);
        TorchZipWriter.Write(path, b.SetItems().Finish(), new Dictionary<string, byte[]> { ["0"] = Floats(Enumerable.Range(0, 24).Select(i => (float)i).ToArray()) });

        using var src = TorchCheckpoint.OpenStateDict(path);
        foreach (var v in views)
        {
            using var expected = storage.as_strided(v.Size, v.Stride, v.Offset);
            using var r = src.Load(v.Name);
            Assert.Equal(v.Size, r.shape);
            Assert.True(r.is_contiguous(), v.Name);
            Assert.True(Same(expected, r), v.Name);
        }
    }

    [Fact]
    public void Tensors_are_read_lazily()
    {
        using var dir = new TempDir();
        var path = dir.File("lazy.pt");
        var p = new PickleBuilder().EmptyDict().Mark()
            .Str("present").Tensor("FloatStorage", "0", 2, 0, [2], [1])
            .Str("missing").Tensor("HalfStorage", "1", 3, 0, [3], [1])
            .SetItems().Finish();
        TorchZipWriter.Write(path, p, new Dictionary<string, byte[]> { ["0"] = Floats(5, 6) });
        using var src = TorchCheckpoint.OpenStateDict(path);   // opening never touches storage data
        Assert.Equal([3L], src.Shape("missing"));
        using var ok = src.Load("present");
        Assert.Equal(new float[] { 5, 6 }, ok.data<float>().ToArray());
        var e = Assert.Throws<InvalidDataException>(() => src.Load("missing"));
        Assert.Contains("data/1", e.Message);
    }

    [Fact]
    public void Checkpoint_Open_dispatches_pt_files_by_content()
    {
        using var dir = new TempDir();
        var tensors = SampleTensors();
        var path = dir.File("weights.bin");   // the extension says nothing; the zip magic does
        PyBridgeSave(path, ToHashtable(tensors));
        using var src = Checkpoint.Open(path);
        Assert.True(src.Contains("bf16"));
        using var r = src.Load("bf16");
        Assert.True(Same(tensors["bf16"], r));
    }

    private static Dictionary<string, Tensor> SampleTensors() => new()
    {
        ["f32"] = torch.randn(3, 5),
        ["f16"] = torch.randn(2, 7).to(ScalarType.Float16),
        ["bf16"] = torch.randn(4, 1, 3).to(ScalarType.BFloat16),
        ["f64"] = torch.randn(6, dtype: ScalarType.Float64),
        ["i64"] = torch.arange(10, dtype: ScalarType.Int64).reshape(2, 5),
        ["flag"] = torch.tensor(new[] { true, false, true }),
        ["scalar"] = torch.tensor(3.5f),
        ["block.0.weight"] = torch.randn(4, 2, 3, 3),
    };

    private static Hashtable ToHashtable(Dictionary<string, Tensor> tensors)
    {
        var h = new Hashtable();
        foreach (var (k, t) in tensors) h[k] = t;
        return h;
    }

    /// <summary>TorchSharp.PyBridge's torch.save-compatible writer. Its public entry point (save_py) takes a module;
    /// the pickler behind it takes any dict, which lets tests write nested (Lightning-style) checkpoints.</summary>
    private static void PyBridgeSave(string path, Hashtable dict)
    {
        var pickler = typeof(PyBridgeModuleExtensions).Assembly.GetType("TorchSharp.PyBridge.PyTorchPickler", throwOnError: true)!;
        var method = pickler.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            .Single(m => m.Name == "PickleStateDict" && m.GetParameters() is { Length: 3 } ps
                         && ps[0].ParameterType == typeof(Stream) && ps[1].ParameterType.IsAssignableFrom(typeof(Hashtable)));
        using var fs = File.Create(path);
        method.Invoke(null, [fs, dict, false]);
    }

    /// <summary>Bit-for-bit equal values, same dtype and shape.</summary>
    private static bool Same(Tensor a, Tensor b)
    {
        if (a.dtype != b.dtype || !a.shape.SequenceEqual(b.shape)) return false;
        using var eq = a.eq(b).all();
        return eq.item<bool>();
    }

    private static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return bytes;
    }

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("t2v-pickle-").FullName;
        public string File(string name) => System.IO.Path.Combine(Path, name);
        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
