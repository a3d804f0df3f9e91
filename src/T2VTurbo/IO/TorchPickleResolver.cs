using System.Text;
using static TorchSharp.torch;

namespace T2VTurbo.IO;

/// <summary>An allowed global, kept as a name: it is only ever compared, never imported or called.</summary>
internal sealed record PickleGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
    public override string ToString() => FullName;
}

/// <summary><c>torch.FloatStorage</c> and friends: the element type of a storage named in a persistent id.</summary>
internal sealed record TorchStorageType(string Name, ScalarType DType)
{
    public override string ToString() => $"torch.{Name}";
}

/// <summary>One storage of the archive (<c>&lt;archive&gt;/data/&lt;Key&gt;</c>), <paramref name="Numel"/> elements of <paramref name="DType"/>.</summary>
internal sealed record TorchStorageRef(string Key, ScalarType DType, long Numel, string Location);

/// <summary>A tensor as <c>torch._utils._rebuild_tensor_v2</c> describes it: a strided view of a storage. No data is
/// read until the tensor is loaded.</summary>
internal sealed record TorchTensorRef(TorchStorageRef Storage, long Offset, long[] Size, long[] Stride)
{
    public long Numel => Size.Aggregate(1L, (a, b) => checked(a * b));

    /// <summary>One past the last storage element the view touches (= Offset when it is empty).</summary>
    public long End => Numel == 0 ? Offset : checked(Offset + Size.Zip(Stride, (n, s) => checked((n - 1) * s)).Sum() + 1);

    public override string ToString() =>
        $"{Storage.DType}[{string.Join(",", Size)}] (storage '{Storage.Key}', offset {Offset}, stride [{string.Join(",", Stride)}])";
}

/// <summary>The allow list for PyTorch weight files. A weights pickle only needs: tensor rebuild functions,
/// storage types, OrderedDict (state dicts and the empty backward-hooks argument), and — for the other entries of a
/// Lightning checkpoint — a few pure data constructors (torch.Size, torch.device, dtypes, set/frozenset/bytearray,
/// and <c>_codecs.encode</c>, which is how protocol 2 spells a bytes literal). Each is interpreted here as data;
/// anything else (os.system, builtins.eval, arbitrary classes, ...) is refused with its name.</summary>
internal sealed class TorchPickleResolver(string what) : IPickleResolver
{
    private static readonly Dictionary<string, ScalarType> StorageTypes = new()
    {
        ["FloatStorage"] = ScalarType.Float32,
        ["DoubleStorage"] = ScalarType.Float64,
        ["HalfStorage"] = ScalarType.Float16,
        ["BFloat16Storage"] = ScalarType.BFloat16,
        ["LongStorage"] = ScalarType.Int64,
        ["IntStorage"] = ScalarType.Int32,
        ["ShortStorage"] = ScalarType.Int16,
        ["CharStorage"] = ScalarType.Int8,
        ["ByteStorage"] = ScalarType.Byte,
        ["BoolStorage"] = ScalarType.Bool,
        ["ComplexFloatStorage"] = ScalarType.ComplexFloat32,
        ["ComplexDoubleStorage"] = ScalarType.ComplexFloat64,
        ["UntypedStorage"] = ScalarType.Byte,
    };

    private static readonly HashSet<string> DTypeNames =
    [
        "float32", "float", "float64", "double", "float16", "half", "bfloat16", "int64", "long", "int32", "int",
        "int16", "short", "int8", "uint8", "bool", "complex64", "cfloat", "complex128", "cdouble",
    ];

    private static readonly HashSet<string> Callables =
    [
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2",
        "torch.Size", "torch.device", "_codecs.encode",
        "builtins.set", "builtins.frozenset", "builtins.bytearray",
    ];

    /// <summary>Classes that <c>_rebuild_from_type_v2</c> may name: plain tensors and parameters.</summary>
    private static readonly HashSet<string> TensorClasses = ["torch.Tensor", "torch._tensor.Tensor", "torch.nn.parameter.Parameter"];

    private readonly Dictionary<string, TorchStorageRef> storages = new(StringComparer.Ordinal);

    public object ResolveGlobal(string module, string name)
    {
        if (module == "__builtin__") module = "builtins";   // Python 2 spelling
        string full = $"{module}.{name}";
        if (Callables.Contains(full) || TensorClasses.Contains(full)) return new PickleGlobal(module, name);
        if (module == "torch" && StorageTypes.TryGetValue(name, out var dtype)) return new TorchStorageType(name, dtype);
        if (module == "torch" && DTypeNames.Contains(name)) return new PickleGlobal(module, name);
        if (module == "torch" && name.EndsWith("Storage", StringComparison.Ordinal))   // e.g. Float8_e4m3fnStorage
            throw new NotSupportedException($"{what}: tensor storage type {full} is not supported (supported: {string.Join(", ", StorageTypes.Keys)})");
        throw new UnsafePickleException($"{what}: {full} is not allowed in a weights file (only tensors, storages and plain " +
            "containers are; a pickle naming other globals can run code when Python loads it, so it is not read)");
    }

    public object? Call(object? callable, object?[] args)
    {
        if (callable is not PickleGlobal g || !Callables.Contains(g.FullName))
            throw new UnsafePickleException($"{what}: the pickle calls {Describe(callable)}, which is not an allowed constructor in a weights file");
        switch (g.FullName)
        {
            case "collections.OrderedDict":
                return args.Length == 0 ? new PickleDict() : DictFromPairs(args[0]);
            case "torch._utils._rebuild_tensor_v2":   // (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
            case "torch._utils._rebuild_tensor":      // (storage, offset, size, stride)
                return RebuildTensor(args);
            case "torch._utils._rebuild_parameter":   // (data, requires_grad, backward_hooks)
            case "torch._utils._rebuild_parameter_with_state": // (data, requires_grad, backward_hooks, python state)
                return args.Length >= 1 && args[0] is TorchTensorRef t ? t : throw Bad($"{g} expects a tensor, got {Arg(args, 0)}");
            case "torch._tensor._rebuild_from_type_v2": // (func, type, args, state): a tensor (subclass) rebuilt by func(*args)
                {
                    if (args.Length < 3 || args[2] is not object?[] inner) throw Bad($"{g} expects (func, type, args, state)");
                    if (args[1] is not PickleGlobal cls || !TensorClasses.Contains(cls.FullName))
                        throw new UnsafePickleException($"{what}: tensor subclass {Describe(args[1])} is not allowed in a weights file");
                    return Call(args[0], inner);
                }
            case "torch.Size":
                return args.Length == 0 ? Array.Empty<object?>() : args[0] switch
                {
                    object?[] tuple => tuple,
                    List<object?> list => list.ToArray(),
                    var other => throw Bad($"torch.Size expects a tuple, got {RestrictedUnpickler.TypeName(other)}"),
                };
            case "torch.device":
                return string.Join(":", args.Select(a => a?.ToString()));
            case "_codecs.encode":   // protocol 2 writes bytes b as _codecs.encode(b.decode('latin1'), 'latin1')
                if (args.Length == 2 && args[0] is string text && args[1] is "latin1" or "latin-1")
                    return Encoding.Latin1.GetBytes(text);
                throw Bad($"_codecs.encode is only read with (str, 'latin1') arguments, got ({string.Join(", ", args.Select(RestrictedUnpickler.TypeName))})");
            case "builtins.set":
            case "builtins.frozenset":
                {
                    var set = new PickleSet();
                    if (args.Length > 0) set.AddRange(Items(args[0], g.FullName));
                    return set;
                }
            case "builtins.bytearray":
                return args.Length == 0 ? Array.Empty<byte>() : args[0] as byte[] ?? throw Bad($"bytearray is only read from bytes, got {Arg(args, 0)}");
            default:
                throw new UnsafePickleException($"{what}: {g} is not callable in a weights file");
        }
    }

    public object? PersistentLoad(object? pid)
    {
        // torch.save: ('storage', storage_type, key, location, numel)
        if (pid is not object?[] { Length: 5 } p || p[0] is not "storage")
            throw Bad($"unexpected persistent id {Describe(pid)}; expected ('storage', type, key, location, numel)");
        if (p[1] is not TorchStorageType type) throw Bad($"persistent id names storage type {Describe(p[1])}");
        if (p[2] is not string key || p[3] is not string location || p[4] is not long numel || numel < 0)
            throw Bad($"malformed storage persistent id ({string.Join(", ", p.Select(x => Describe(x)))})");
        if (storages.TryGetValue(key, out var known))
            return known.DType == type.DType && known.Numel == numel ? known
                : throw Bad($"storage '{key}' is used both as {known.DType}[{known.Numel}] and as {type.DType}[{numel}]");
        return storages[key] = new TorchStorageRef(key, type.DType, numel, location);
    }

    public object? Build(object? target, object? state)
    {
        switch (target)
        {
            case PickleDict d when state is PickleDict attributes:   // e.g. a state dict's _metadata
                d.Attributes = attributes;
                return d;
            case TorchTensorRef:   // Python-side attributes of a tensor do not change its data
                return target;
            default:
                throw Bad($"BUILD (setstate) on a {Describe(target)} is not supported in a weights file");
        }
    }

    private TorchTensorRef RebuildTensor(object?[] a)
    {
        if (a.Length < 4 || a[0] is not TorchStorageRef storage || a[1] is not long offset)
            throw Bad("tensor rebuild expects (storage, storage_offset, size, stride, ...)");
        long[] size = Longs(a[2], "size"), stride = Longs(a[3], "stride");
        var t = new TorchTensorRef(storage, offset, size, stride);
        if (size.Length != stride.Length || offset < 0 || size.Any(n => n < 0) || stride.Any(s => s < 0))
            throw Bad($"invalid tensor view {t}");
        long end;
        try { end = t.End; }
        catch (OverflowException) { throw Bad($"tensor view {t} is too large"); }
        if (end > storage.Numel)
            throw Bad($"tensor view {t} reaches element {t.End - 1}, past its storage of {storage.Numel} elements");
        return t;
    }

    private long[] Longs(object? o, string name) => Items(o, name).Select(x => x as long? ?? throw Bad($"tensor {name} holds a {RestrictedUnpickler.TypeName(x)}")).ToArray();

    private List<object?> Items(object? o, string name) => o switch
    {
        object?[] tuple => [.. tuple],
        List<object?> list => list,
        _ => throw Bad($"{name} expects a tuple or list, got {RestrictedUnpickler.TypeName(o)}"),
    };

    private PickleDict DictFromPairs(object? pairs)
    {
        var d = new PickleDict();
        foreach (var pair in Items(pairs, "OrderedDict"))
        {
            if (pair is not object?[] { Length: 2 } kv) throw Bad("OrderedDict expects (key, value) pairs");
            d.Set(kv[0], kv[1]);
        }
        return d;
    }

    private string Arg(object?[] args, int i) => i < args.Length ? Describe(args[i]) : "nothing";

    private static string Describe(object? o) => o switch
    {
        PickleGlobal g => g.FullName,
        TorchStorageType s => s.ToString(),
        TorchTensorRef => "tensor",
        string s => $"'{s}'",
        long l => l.ToString(),
        _ => RestrictedUnpickler.TypeName(o),
    };

    private InvalidDataException Bad(string message) => new($"{what}: {message}");
}
