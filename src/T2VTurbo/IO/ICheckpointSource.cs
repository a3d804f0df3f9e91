using static TorchSharp.torch;

namespace T2VTurbo.IO;

/// <summary>A named set of tensors that can be read one at a time (safetensors file, PyTorch checkpoint, or memory),
/// so that loading a model never needs a second full copy of its weights.</summary>
public interface ICheckpointSource : IDisposable
{
    /// <summary>File (or description) the tensors come from, for error messages.</summary>
    string Path { get; }
    IEnumerable<string> Keys { get; }
    bool Contains(string key);
    long[] Shape(string key);
    /// <summary>The dtype the tensor is stored in.</summary>
    ScalarType DType(string key);
    /// <summary>Reads one tensor, converted to <paramref name="dtype"/> (floating tensors only) on <paramref name="device"/>.
    /// The caller owns the result.</summary>
    Tensor Load(string key, ScalarType? dtype = null, Device? device = null);
}

/// <summary>Tensors already in memory, e.g. a state dict built in code or returned by a module.</summary>
public sealed class TensorDictSource : ICheckpointSource
{
    private readonly IReadOnlyDictionary<string, Tensor> tensors;
    public TensorDictSource(IReadOnlyDictionary<string, Tensor> tensors, string path = "<memory>")
    {
        this.tensors = tensors;
        Path = path;
    }
    public string Path { get; }
    public IEnumerable<string> Keys => tensors.Keys;
    public bool Contains(string key) => tensors.ContainsKey(key);
    public long[] Shape(string key) => tensors[key].shape;
    public ScalarType DType(string key) => tensors[key].dtype;
    public Tensor Load(string key, ScalarType? dtype = null, Device? device = null)
    {
        var t = tensors[key];
        return t.to(dtype ?? t.dtype, device ?? t.device, copy: true);
    }
    public void Dispose() { }
}
