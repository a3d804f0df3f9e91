using T2VTurbo.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Support;

/// <summary>A checkpoint that has only names and shapes (e.g. a full-size reference key list): loading returns META
/// tensors, so a strict <see cref="StateDictLoader"/> run over META modules checks names and shapes of the real model
/// without its gigabytes.</summary>
public sealed class ShapeOnlySource(IEnumerable<ReferenceKey> keys, string path = "<reference shapes>") : ICheckpointSource
{
    private readonly Dictionary<string, long[]> shapes = keys.ToDictionary(k => k.Key, k => k.Shape, StringComparer.Ordinal);

    public string Path { get; } = path;
    public IEnumerable<string> Keys => shapes.Keys;
    public bool Contains(string key) => shapes.ContainsKey(key);
    public long[] Shape(string key) => shapes[key];
    public ScalarType DType(string key) => ScalarType.Float32;
    public Tensor Load(string key, ScalarType? dtype = null, Device? device = null) =>
        torch.empty(shapes[key], dtype ?? ScalarType.Float32, device: torch.META);
    public void Dispose() { }
}
