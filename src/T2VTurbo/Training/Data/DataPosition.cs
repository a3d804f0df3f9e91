using System.Globalization;
using System.Text.Json.Nodes;

namespace T2VTurbo.Training.Data;

/// <summary>Where a loader stands in its data stream: the next item to try is entry <see cref="Index"/> of epoch
/// <see cref="Epoch"/>'s shuffled order. Saved with a training checkpoint so a resumed run continues with the same
/// data; the clip cut from an item depends only on (seed, epoch, index), so the continuation is identical.</summary>
public readonly record struct DataPosition(long Epoch, int Index)
{
    public static readonly DataPosition Start = new(0, 0);

    public JsonObject ToJson() => new() { ["epoch"] = Epoch, ["index"] = Index };

    public static DataPosition FromJson(JsonNode node)
    {
        var epoch = node["epoch"]?.GetValue<long>() ?? throw new InvalidDataException($"data position has no \"epoch\": {node.ToJsonString()}");
        var index = node["index"]?.GetValue<int>() ?? throw new InvalidDataException($"data position has no \"index\": {node.ToJsonString()}");
        if (epoch < 0 || index < 0) throw new InvalidDataException($"data position must be non-negative: {node.ToJsonString()}");
        return new DataPosition(epoch, index);
    }

    /// <summary>"epoch:index", as <see cref="ToString"/> writes it.</summary>
    public static DataPosition Parse(string s)
    {
        var parts = s.Split(':');
        if (parts.Length != 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var e)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var i))
            throw new FormatException($"data position \"{s}\": expected epoch:index, e.g. 3:120");
        return new DataPosition(e, i);
    }

    public override string ToString() => $"{Epoch}:{Index}";
}
