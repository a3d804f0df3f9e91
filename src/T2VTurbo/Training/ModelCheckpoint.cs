using T2VTurbo.IO;
using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>Folder checkpoints of a <see cref="ModelTrainer"/> run, <c>checkpoint-&lt;step&gt;/</c>, written atomically
/// by <see cref="TrainingCheckpoint.SaveFolder"/>:
/// <list type="bullet">
/// <item>model.safetensors — the module's whole state dict (parameters and buffers) by its own key names, fp32 as trained;</item>
/// <item>optimizer.safetensors — AdamW moments by parameter name, the AdamW step count in the metadata;</item>
/// <item>ema.safetensors — the moving average of the trained weights by parameter name, when the run keeps one;</item>
/// <item>training_state.json — step, RNG state, data position, and the run's arguments.</item>
/// </list></summary>
public static class ModelCheckpoint
{
    public const string ModelFile = "model.safetensors";

    public static string Save(string outputDir, ModelTrainer t, string dataPosition) =>
        TrainingCheckpoint.SaveFolder(outputDir, t.Step, tmp =>
        {
            SaveStateDict(Path.Combine(tmp, ModelFile), t.Model, prefix: "", new Dictionary<string, string> { ["format"] = "pt", ["step"] = t.Step.ToString() });
            TrainingCheckpoint.SaveAdamW(Path.Combine(tmp, TrainingCheckpoint.OptimizerFile), t.OptimizerStates());
            t.Ema?.Save(Path.Combine(tmp, WeightEma.FileName), t.Step);
            TrainingCheckpoint.WriteState(tmp, t.Step, t.Rng, dataPosition, t.Options.Args);
        }, t.Options.CheckpointsTotalLimit);

    /// <summary>Restores weights (strict), AdamW state, RNG and step into <paramref name="t"/>; returns the data
    /// position to continue from.</summary>
    public static string Load(string checkpointDir, ModelTrainer t)
    {
        // The per-step global seeds derive from the run's seed: resuming under another one would not repeat the run.
        var saved = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(checkpointDir, TrainingCheckpoint.StateFile)))?["seed"]?.GetValue<long>();
        if (saved is long s && s != t.Rng.Seed)
            throw new ArgumentException($"{checkpointDir} was trained with seed {s}; resume it with the same seed (got {t.Rng.Seed})");
        using (var src = new SafeTensorsFile(Path.Combine(checkpointDir, ModelFile)))
            StateDictLoader.Load(t.Model, src);
        TrainingCheckpoint.LoadAdamW(Path.Combine(checkpointDir, TrainingCheckpoint.OptimizerFile), t.OptimizerStates());
        string ema = Path.Combine(checkpointDir, WeightEma.FileName);
        if (t.Ema is not null) t.Ema.Load(ema);
        else if (File.Exists(ema))
            throw new ArgumentException($"{checkpointDir} was trained with an EMA of its weights ({WeightEma.FileName}); resume it with --ema-decay");
        var (step, position) = TrainingCheckpoint.ReadState(checkpointDir, t.Rng);
        t.ResumeAt(step);
        return position;
    }

    /// <summary>Saves <paramref name="module"/>'s state dict as safetensors (CPU copies), each key prefixed.</summary>
    public static void SaveStateDict(string path, nn.Module module, string prefix, IDictionary<string, string>? metadata = null)
    {
        var tensors = StateDict(module, prefix);
        try { SafeTensors.Save(path, tensors, metadata is null ? null : new Dictionary<string, string>(metadata)); }
        finally { foreach (var v in tensors.Values) v.Dispose(); }
    }

    /// <summary>Detached CPU copies of the state dict, keys prefixed (the caller disposes them).</summary>
    public static Dictionary<string, Tensor> StateDict(nn.Module module, string prefix) =>
        module.state_dict().ToDictionary(kv => prefix + kv.Key, kv => kv.Value.detach().cpu().clone());
}
