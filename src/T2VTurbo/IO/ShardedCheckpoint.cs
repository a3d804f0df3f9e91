using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace T2VTurbo.IO;

/// <summary>
/// A state dict split over several files, described by an HF shard index (<c>*.safetensors.index.json</c> /
/// <c>*.bin.index.json</c>: <c>{"metadata": {...}, "weight_map": {key: shard file name}}</c>), as one
/// <see cref="ICheckpointSource"/>. Shards are opened once each; tensors are read lazily.
/// </summary>
public sealed class ShardedCheckpoint : ICheckpointSource
{
    private readonly Dictionary<string, ICheckpointSource> byKey = new(StringComparer.Ordinal);
    private readonly List<string> keys = [];
    private readonly List<ICheckpointSource> shards = [];

    private ShardedCheckpoint(string path) => Path = path;

    public string Path { get; }

    public static ShardedCheckpoint Open(string indexPath)
    {
        var index = DiffusersFolder.ReadJson(indexPath);
        if (index["weight_map"] is not JsonObject map)
            throw new InvalidDataException($"{indexPath}: shard index has no \"weight_map\" object");
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;
        var result = new ShardedCheckpoint(indexPath);
        try
        {
            var opened = new Dictionary<string, ICheckpointSource>(StringComparer.Ordinal);
            foreach (var (key, value) in map)
            {
                var file = value?.GetValue<string>() ?? throw new InvalidDataException($"{indexPath}: weight_map[\"{key}\"] is not a file name");
                if (file.Contains('/') || file.Contains('\\') || file.Contains(".."))
                    throw new InvalidDataException($"{indexPath}: weight_map[\"{key}\"] = \"{file}\" is not a file next to the index");
                if (!opened.TryGetValue(file, out var shard))
                {
                    var shardPath = System.IO.Path.Combine(dir, file);
                    if (!File.Exists(shardPath)) throw new FileNotFoundException($"{indexPath}: shard {file} (holding '{key}') is missing", shardPath);
                    shard = Checkpoint.Open(shardPath);
                    opened[file] = shard;
                    result.shards.Add(shard);
                }
                if (!shard.Contains(key)) throw new InvalidDataException($"{indexPath}: '{key}' is mapped to {file}, which does not hold it");
                result.byKey[key] = shard;
                result.keys.Add(key);
            }
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    public IEnumerable<string> Keys => keys;
    public bool Contains(string key) => byKey.ContainsKey(key);
    public long[] Shape(string key) => Shard(key).Shape(key);
    public ScalarType DType(string key) => Shard(key).DType(key);
    public Tensor Load(string key, ScalarType? dtype = null, Device? device = null) => Shard(key).Load(key, dtype, device);

    private ICheckpointSource Shard(string key) =>
        byKey.TryGetValue(key, out var s) ? s : throw new KeyNotFoundException($"{Path}: no tensor named '{key}'");

    public void Dispose()
    {
        foreach (var s in shards) s.Dispose();
    }
}
