using System.Text.Json.Nodes;

namespace T2VTurbo.Pipelines;

/// <summary>What a model was trained for, from the optional <c>"generation_defaults"</c> object of its architecture
/// JSON: video size, frames, fps, steps and guidance used when the user does not say otherwise. A small model trained
/// at 32×32 and 8 frames makes noise at VideoCrafter2's 320×512×16.</summary>
public sealed record GenerationDefaults(int? Height, int? Width, int? Frames, int? Fps, int? Steps, double? Guidance)
{
    public const string Section = "generation_defaults";

    /// <summary>The section of the config file, or null when it has none.</summary>
    public static GenerationDefaults? FromConfig(string configPath)
    {
        if (!File.Exists(configPath)) throw new FileNotFoundException($"model config not found: {configPath}", configPath);
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(configPath))?[Section]; }
        catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{configPath}: not valid JSON: {e.Message}"); }
        if (node is null) return null;
        if (node is not JsonObject o) throw new InvalidDataException($"{configPath}: \"{Section}\" must be an object");
        int? Int(string key) => Read(o, key, configPath, n => n.GetValue<int>());
        var d = new GenerationDefaults(Int("height"), Int("width"), Int("frames"), Int("fps"), Int("steps"),
            Read(o, "guidance", configPath, n => n.GetValue<double>()));
        foreach (var (key, v) in new[] { ("height", d.Height), ("width", d.Width), ("frames", d.Frames), ("fps", d.Fps), ("steps", d.Steps) })
            if (v is <= 0) throw new InvalidDataException($"{configPath}: {Section}.{key} must be positive, got {v}");
        return d;
    }

    private static T? Read<T>(JsonObject o, string key, string path, Func<JsonNode, T> get) where T : struct
    {
        if (o[key] is not { } n) return null;
        try { return get(n); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: {Section}.{key} must be a number, got {n.ToJsonString()}");
        }
    }

    /// <summary>Fills what <paramref name="options"/> leaves open (null) with these defaults; <paramref name="framesGiven"/>
    /// says whether the caller chose <see cref="GenerateOptions.Frames"/> (not nullable).</summary>
    public GenerateOptions ApplyTo(GenerateOptions options, bool framesGiven) => options with
    {
        Height = options.Height ?? Height,
        Width = options.Width ?? Width,
        Fps = options.Fps ?? Fps,
        Frames = framesGiven ? options.Frames : Frames ?? options.Frames,
        // Steps and guidance describe the student; the teacher keeps its own (50-step DDIM, CFG 12) unless told.
        Steps = options.Steps ?? (options.Mode == GenerationMode.Teacher ? null : Steps),
        Guidance = options.Guidance ?? (options.Mode == GenerationMode.Teacher ? null : Guidance),
    };
}
