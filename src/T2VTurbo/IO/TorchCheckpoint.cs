using static TorchSharp.torch;

namespace T2VTurbo.IO;

/// <summary>PyTorch zip-pickle checkpoints (.ckpt/.pt/.pth/.bin written by <c>torch.save</c>), read without Python and
/// without executing the pickle: see <see cref="TorchPickleResolver"/> for what a file may contain.</summary>
public static class TorchCheckpoint
{
    /// <summary>Opens a state dict: either the pickled dict itself (<c>torch.save(model.state_dict())</c>) or the dict
    /// under <c>"state_dict"</c> (Lightning .ckpt; the other entries are checked but ignored). Entries that are not
    /// tensors are skipped. Tensors are read lazily, one per <see cref="ICheckpointSource.Load"/>.</summary>
    public static ICheckpointSource OpenStateDict(string path)
    {
        var archive = TorchArchive.Open(path);
        try { return new TorchStateDictFile(archive); }
        catch
        {
            archive.Dispose();
            throw;
        }
    }

    /// <summary>True when the file is a PyTorch zip whose pickle is a list or tuple (the official LoRA format). Reads
    /// only the pickle, no tensor data.</summary>
    public static bool IsTensorList(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"file not found: {path}", path);
        Span<byte> head = stackalloc byte[2];
        using (var fs = File.OpenRead(path))
            if (fs.Read(head) < 2 || head[0] != (byte)'P' || head[1] != (byte)'K') return false;
        using var archive = TorchArchive.Open(path);
        return archive.Root is List<object?> or object?[];
    }

    /// <summary>Shapes and dtypes of a pickled list of tensors, from the pickle alone (no tensor data is read).</summary>
    public static IReadOnlyList<(long[] Shape, ScalarType DType)> ListShapes(string path)
    {
        using var archive = TorchArchive.Open(path);
        IEnumerable<object?> items = archive.Root switch
        {
            List<object?> list => list,
            object?[] tuple => tuple,
            _ => throw new InvalidDataException($"{path} is not a pickled list of tensors"),
        };
        return items.Select((x, i) => x is TorchTensorRef t ? ((long[])t.Size.Clone(), t.Storage.DType)
            : throw new InvalidDataException($"{path}: list element {i} is a {RestrictedUnpickler.TypeName(x)}, not a tensor")).ToList();
    }

    /// <summary>Reads a pickled list (or tuple) of tensors, such as T2V-Turbo's <c>unet_lora.pt</c>
    /// (<c>[up_0, down_0, up_1, down_1, ...]</c>). The caller owns the tensors.</summary>
    public static IReadOnlyList<Tensor> ReadTensorList(string path)
    {
        using var archive = TorchArchive.Open(path);
        var items = archive.Root switch
        {
            List<object?> list => list,
            object?[] tuple => [.. tuple],
            PickleDict d => throw new InvalidDataException($"{path} is a pickled dict with {CountTensors(d)} tensors at the top level" +
                $"{(d.TryGet("state_dict", out _) ? " and a 'state_dict' entry" : "")} (a state dict?), not a list; use TorchCheckpoint.OpenStateDict or Checkpoint.Open"),
            var other => throw new InvalidDataException($"{path} holds a pickled {RestrictedUnpickler.TypeName(other)}, expected a list of tensors"),
        };
        var refs = items.Select((x, i) => x as TorchTensorRef
            ?? throw new InvalidDataException($"{path}: list element {i} is a {RestrictedUnpickler.TypeName(x)}, not a tensor")).ToList();
        var tensors = new List<Tensor>(refs.Count);
        try
        {
            for (int i = 0; i < refs.Count; i++) tensors.Add(archive.ReadTensor(refs[i], $"{path}[{i}]"));
        }
        catch
        {
            foreach (var t in tensors) t.Dispose();
            throw;
        }
        return tensors;
    }

    internal static int CountTensors(PickleDict d) => d.Items.Count(kv => kv.Value is TorchTensorRef);
}

/// <summary>The state dict of a <see cref="TorchArchive"/>, as an <see cref="ICheckpointSource"/> (keys in file order).</summary>
internal sealed class TorchStateDictFile : ICheckpointSource
{
    private readonly TorchArchive archive;
    private readonly Dictionary<string, TorchTensorRef> tensors = new(StringComparer.Ordinal);
    private readonly List<string> keys = [];

    public TorchStateDictFile(TorchArchive archive)
    {
        this.archive = archive;
        var dict = FindStateDict(archive);
        foreach (var (key, value) in dict.Items)
        {
            if (key is not string name || value is not TorchTensorRef t) continue;   // e.g. _extra_state, version ints
            tensors[name] = t;
            keys.Add(name);
        }
    }

    public string Path => archive.Path;
    public IEnumerable<string> Keys => keys;
    public bool Contains(string key) => tensors.ContainsKey(key);
    public long[] Shape(string key) => (long[])Ref(key).Size.Clone();
    public ScalarType DType(string key) => Ref(key).Storage.DType;

    /// <summary>Reads one tensor; <paramref name="dtype"/> converts floating tensors only (integer buffers keep their type).</summary>
    public Tensor Load(string key, ScalarType? dtype = null, Device? device = null)
    {
        var t = archive.ReadTensor(Ref(key), $"{Path}:{key}");
        return TensorBytes.Convert(t, t.is_floating_point() ? dtype : null, device);
    }

    private TorchTensorRef Ref(string key) =>
        tensors.TryGetValue(key, out var t) ? t : throw new KeyNotFoundException($"{Path}: no tensor named '{key}'");

    private static PickleDict FindStateDict(TorchArchive archive)
    {
        string path = archive.Path;
        switch (archive.Root)
        {
            // Lightning and most trainers nest under "state_dict"; InternVideo2 under "module"; ViCLIP under "model".
            case PickleDict root when TorchCheckpoint.CountTensors(root) == 0 && NestedKey(root) is { } key:
                root.TryGet(key, out var nested);
                return nested as PickleDict ?? throw new InvalidDataException(
                    $"{path}: '{key}' entry is a {RestrictedUnpickler.TypeName(nested)}, expected a dict of tensors");
            case PickleDict root:
                if (TorchCheckpoint.CountTensors(root) > 0) return root;
                var names = root.Items.Select(kv => kv.Key is string s ? $"'{s}'" : RestrictedUnpickler.TypeName(kv.Key)).Take(20);
                throw new InvalidDataException($"{path}: the pickled dict has no tensors and no 'state_dict', 'module' or 'model' entry of tensors " +
                    $"(top-level keys: {string.Join(", ", names)}{(root.Count > 20 ? ", ..." : "")})");
            case List<object?> or object?[]:
                int n = archive.Root is List<object?> l ? l.Count : ((object?[])archive.Root).Length;
                throw new InvalidDataException($"{path} is a pickled list of {n} tensors (a LoRA file?), not a state dict; " +
                    "use TorchCheckpoint.ReadTensorList to read it");
            default:
                throw new InvalidDataException($"{path} holds a pickled {RestrictedUnpickler.TypeName(archive.Root)}, expected a state dict");
        }
    }

    private static readonly string[] NestingKeys = ["state_dict", "module", "model"];

    private static string? NestedKey(PickleDict root) =>
        NestingKeys.FirstOrDefault(k => root.TryGet(k, out var v) && (k == "state_dict" || v is PickleDict d && TorchCheckpoint.CountTensors(d) > 0));

    public void Dispose() => archive.Dispose();
}
