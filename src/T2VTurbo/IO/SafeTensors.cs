using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.IO;

/// <summary>One tensor's entry in a safetensors header.</summary>
public sealed record SafeTensorInfo(string Name, string DType, long[] Shape, long Begin, long End)
{
    public ScalarType ScalarType => SafeTensors.ToScalarType(DType, Name);
}

/// <summary>Reads a safetensors file lazily: the header is parsed once, and each tensor is streamed from disk
/// straight into its own storage, so a multi-GB file is never held in one byte array.
/// Format: 8-byte little-endian header length, JSON header {name: {dtype, shape, data_offsets}, "__metadata__"},
/// then the raw little-endian data (offsets relative to the end of the header).</summary>
public sealed class SafeTensorsFile : ICheckpointSource
{
    private readonly FileStream stream;
    private readonly long dataStart;
    private readonly Dictionary<string, SafeTensorInfo> entries = new(StringComparer.Ordinal);

    public string Path { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyDictionary<string, SafeTensorInfo> Entries => entries;
    public IEnumerable<string> Keys => entries.Keys;

    public SafeTensorsFile(string path)
    {
        Path = path;
        if (!File.Exists(path)) throw new FileNotFoundException($"safetensors file not found: {path}", path);
        stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        try
        {
            Span<byte> len = stackalloc byte[8];
            if (stream.Read(len) != 8) throw new InvalidDataException($"{path}: too short to be a safetensors file");
            long headerLen = BitConverter.ToInt64(len);
            if (headerLen <= 0 || headerLen > 100_000_000 || 8 + headerLen > stream.Length)
                throw new InvalidDataException($"{path}: not a safetensors file (header length {headerLen})");
            var header = new byte[headerLen];
            stream.ReadExactly(header);
            dataStart = 8 + headerLen;
            JsonObject root;
            try { root = JsonNode.Parse(header)!.AsObject(); }
            catch (JsonException e) { throw new InvalidDataException($"{path}: safetensors header is not valid JSON: {e.Message}"); }
            var meta = new Dictionary<string, string>();
            foreach (var (name, node) in root)
            {
                if (name == "__metadata__")
                {
                    foreach (var (k, v) in node!.AsObject()) meta[k] = v?.GetValue<string>() ?? "";
                    continue;
                }
                var o = node!.AsObject();
                var offsets = o["data_offsets"]!.AsArray();
                var info = new SafeTensorInfo(name, o["dtype"]!.GetValue<string>(),
                    o["shape"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray(),
                    offsets[0]!.GetValue<long>(), offsets[1]!.GetValue<long>());
                long expected = info.Shape.Aggregate(1L, (a, b) => a * b) * SafeTensors.ElementSize(info.DType, name);
                if (info.End - info.Begin != expected || dataStart + info.End > stream.Length)
                    throw new InvalidDataException($"{path}: tensor '{name}' has {info.End - info.Begin} bytes, expected {expected} for {info.DType}{SafeTensors.ShapeString(info.Shape)} (file truncated?)");
                entries[name] = info;
            }
            Metadata = meta;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    public bool Contains(string key) => entries.ContainsKey(key);
    public long[] Shape(string key) => Info(key).Shape;
    public ScalarType DType(string key) => Info(key).ScalarType;

    public SafeTensorInfo Info(string key) =>
        entries.TryGetValue(key, out var i) ? i : throw new KeyNotFoundException($"{Path}: no tensor named '{key}'");

    /// <summary>Reads one tensor, then converts it to <paramref name="dtype"/> and moves it to <paramref name="device"/>.</summary>
    public Tensor Load(string key, ScalarType? dtype = null, Device? device = null)
    {
        var info = Info(key);
        var t = torch.empty(info.Shape, info.ScalarType, device: torch.CPU);   // bytes are streamed into CPU memory, whatever the default device
        lock (stream)
        {
            stream.Position = dataStart + info.Begin;
            TensorBytes.ReadInto(t, stream, $"{Path}:{key}");
        }
        return TensorBytes.Convert(t, dtype, device);
    }

    public void Dispose() => stream.Dispose();
}

/// <summary>safetensors dtype names, and the writer.</summary>
public static class SafeTensors
{
    public static ScalarType ToScalarType(string dtype, string name = "") => dtype switch
    {
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "F64" => ScalarType.Float64,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new NotSupportedException($"safetensors dtype '{dtype}' of tensor '{name}' is not supported"),
    };

    public static string ToName(ScalarType t) => t switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Float64 => "F64",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"dtype {t} cannot be stored in safetensors"),
    };

    public static int ElementSize(string dtype, string name = "") => ToScalarType(dtype, name).ElementSize();

    internal static string ShapeString(IEnumerable<long> shape) => "[" + string.Join(",", shape) + "]";

    /// <summary>Writes tensors (any device/dtype; floating ones converted to <paramref name="dtype"/> if given) to a
    /// safetensors file, atomically: a temporary file in the same folder is renamed over the target only when complete.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors,
        IReadOnlyDictionary<string, string>? metadata = null, ScalarType? dtype = null)
    {
        var specs = tensors.Select(kv => new TensorSpec(kv.Key, Target(kv.Value.dtype, dtype), kv.Value.shape)).ToList();
        Save(path, specs, name => tensors[name].alias(), metadata);
    }

    /// <summary>Streams every tensor of <paramref name="source"/> into a safetensors file, one tensor in memory at a time.</summary>
    public static void Save(string path, ICheckpointSource source, IReadOnlyDictionary<string, string>? metadata = null,
        ScalarType? dtype = null, Action<string>? onTensor = null)
    {
        var specs = source.Keys.Select(k => new TensorSpec(k, Target(source.DType(k), dtype), source.Shape(k))).ToList();
        Save(path, specs, name => { onTensor?.Invoke(name); return source.Load(name); }, metadata);
    }

    public sealed record TensorSpec(string Name, ScalarType DType, long[] Shape);

    private static ScalarType Target(ScalarType stored, ScalarType? wanted) =>
        wanted is { } w && stored is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64 ? w : stored;

    /// <summary>Core writer: the header is built from <paramref name="specs"/>, then each tensor is fetched (and disposed)
    /// in header order.</summary>
    public static void Save(string path, IReadOnlyList<TensorSpec> specs, Func<string, Tensor> fetch,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ordered = specs.OrderBy(s => s.Name, StringComparer.Ordinal).ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var m = new JsonObject();
            foreach (var (k, v) in metadata) m[k] = v;
            header["__metadata__"] = m;
        }
        long offset = 0;
        foreach (var s in ordered)
        {
            long n = s.Shape.Aggregate(1L, (a, b) => a * b) * s.DType.ElementSize();
            header[s.Name] = new JsonObject
            {
                ["dtype"] = ToName(s.DType),
                ["shape"] = new JsonArray(s.Shape.Select(x => (JsonNode)x).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + n),
            };
            offset += n;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int pad = (8 - json.Length % 8) % 8;
        var headerBytes = new byte[json.Length + pad];
        json.CopyTo(headerBytes, 0);
        for (int i = json.Length; i < headerBytes.Length; i++) headerBytes[i] = (byte)' ';

        AtomicFile.Write(path, fs =>
        {
            fs.Write(BitConverter.GetBytes((long)headerBytes.Length));
            fs.Write(headerBytes);
            foreach (var s in ordered)
            {
                using var scope = torch.NewDisposeScope();
                var t = fetch(s.Name);
                if (!t.shape.SequenceEqual(s.Shape))
                    throw new InvalidOperationException($"tensor '{s.Name}' has shape {ShapeString(t.shape)}, header says {ShapeString(s.Shape)}");
                var cpu = t.detach().to(s.DType).cpu().contiguous();
                TensorBytes.WriteFrom(cpu, fs);
            }
        });
    }
}
