namespace T2VTurbo.Pipelines;

/// <summary>The default model shipped with T2VTurbo.NET: the ShapesBench T2V-Turbo (docs/shapesbench.md), trained from
/// nothing by scripts/shapesbench.sh — a VideoCrafter2-family model at a small config with its LoRA merged, stored in
/// fp16. The build copies the repository's models/shapesbench/ next to the assemblies, so it works offline.</summary>
public static class EmbeddedModel
{
    public const string WeightsFile = "model.safetensors";
    public const string ConfigFile = "config.json";

    /// <summary>models/shapesbench beside the running program.</summary>
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "models", "shapesbench");
    public static string WeightsPath => Path.Combine(Folder, WeightsFile);
    public static string ConfigPath => Path.Combine(Folder, ConfigFile);

    public static bool IsPresent => File.Exists(WeightsPath) && File.Exists(ConfigPath);

    /// <summary>Its files, or a clear error when the build did not copy them.</summary>
    public static ModelFiles Files()
    {
        if (!IsPresent)
            throw new FileNotFoundException($"the embedded default model is not at {Folder} ({WeightsFile} + {ConfigFile}); " +
                                            "the build copies models/shapesbench/ from the repository there. Pass --model to use other weights.", WeightsPath);
        return new ModelFiles(WeightsPath, Config: ConfigPath) { Family = ModelFamily.VideoCrafter2 };
    }

    public static GenerationDefaults Defaults() =>
        GenerationDefaults.FromConfig(Files().Config!) ?? throw new InvalidDataException($"{ConfigPath}: no \"generation_defaults\" section");
}
