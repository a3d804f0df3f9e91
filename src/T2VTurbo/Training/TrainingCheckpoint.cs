using System.Text.Json;
using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Lora;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>Folder checkpoints of a distillation run, <c>checkpoint-&lt;step&gt;/</c> (spec §4.7 plus what an exact
/// resume needs):
/// <list type="bullet">
/// <item>unet_lora.pt — the official list [up_0, down_0, …] (fp32), loadable by the reference and by LoraWeights.Read;</item>
/// <item>unet_lora.safetensors — the same weights by name (<c>&lt;module&gt;.lora_up.weight</c>);</item>
/// <item>time_cond_proj.safetensors — the student's base <c>time_cond_proj.weight</c>, which the LoRA was trained
/// against and which is in neither LoRA file (spec §3.5);</item>
/// <item>optimizer.safetensors — AdamW moments by name (<c>&lt;module&gt;.lora_up.exp_avg</c>, <c>.exp_avg_sq</c>), the
/// AdamW step count in the metadata;</item>
/// <item>training_state.json — step, RNG state, data position, and the run's arguments.</item>
/// </list>
/// A checkpoint is written into a temporary folder and renamed into place, so a crash never leaves a torn one.</summary>
public static class TrainingCheckpoint
{
    public const string LoraPt = "unet_lora.pt";
    public const string LoraSafetensors = "unet_lora.safetensors";
    public const string TimeCondProj = "time_cond_proj.safetensors";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string StateFile = "training_state.json";
    private const string Prefix = "checkpoint-";

    /// <summary>Writes checkpoint-&lt;step&gt; under <paramref name="outputDir"/> and keeps only the newest
    /// <paramref name="keepLast"/> (0 = keep all). Returns the folder.</summary>
    public static string Save(string outputDir, Distiller d, string dataPosition, JsonObject? args, int keepLast) =>
        SaveFolder(outputDir, d.Step, tmp =>
        {
            var lora = d.Models.Lora;
            TorchPickleWriter.WriteTensorList(Path.Combine(tmp, LoraPt), lora.ToOfficialList());
            using (var weights = lora.ToWeights())
                SafeTensors.Save(Path.Combine(tmp, LoraSafetensors), weights.ToNamed(), new Dictionary<string, string> { ["format"] = "pt", ["step"] = d.Step.ToString() });
            string key = d.Models.Student.GuidanceProjectionKey!;
            using (var tcp = GuidanceProjection(d).detach().to(ScalarType.Float32, torch.CPU))
                SafeTensors.Save(Path.Combine(tmp, TimeCondProj), new Dictionary<string, Tensor> { [key] = tcp });
            SaveAdamW(Path.Combine(tmp, OptimizerFile), OptimizerStates(d));
            WriteState(tmp, d.Step, d.Rng, dataPosition, args);
        }, keepLast);

    /// <summary>Writes checkpoint-&lt;step&gt; atomically: <paramref name="writeInto"/> fills a temporary folder (it must
    /// write <see cref="StateFile"/>, e.g. with <see cref="WriteState"/>), which is then renamed into place; only the
    /// newest <paramref name="keepLast"/> checkpoints are kept (0 = all). Returns the folder.</summary>
    public static string SaveFolder(string outputDir, long step, Action<string> writeInto, int keepLast)
    {
        Directory.CreateDirectory(outputDir);
        string final = Path.Combine(outputDir, $"{Prefix}{step}");
        string tmp = Path.Combine(outputDir, $".{Prefix}{step}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(tmp);
        try
        {
            writeInto(tmp);
            if (!File.Exists(Path.Combine(tmp, StateFile)))
                throw new InvalidOperationException($"checkpoint {final}: no {StateFile} was written");
            if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
            Directory.Move(tmp, final);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
        if (keepLast > 0)
            foreach (var old in List(outputDir).SkipLast(keepLast)) Directory.Delete(old.Path, recursive: true);
        return final;
    }

    /// <summary>training_state.json: step, RNG state and seed, data position, the run's arguments.</summary>
    public static void WriteState(string folder, long step, TrainingRng rng, string dataPosition, JsonObject? args)
    {
        var state = new JsonObject
        {
            ["step"] = step,
            ["rng"] = rng.State,
            ["seed"] = rng.Seed,
            ["data_position"] = dataPosition,
            ["args"] = args?.DeepClone(),
        };
        AtomicFile.WriteAllText(Path.Combine(folder, StateFile), state.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Reads training_state.json of a checkpoint folder, restores <paramref name="rng"/>, and returns (step,
    /// data position).</summary>
    public static (long Step, string DataPosition) ReadState(string checkpointDir, TrainingRng rng)
    {
        string path = Path.Combine(checkpointDir, StateFile);
        var stateJson = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        rng.Restore(stateJson["rng"]?.GetValue<string>() ?? throw new InvalidDataException($"{path}: no \"rng\""));
        return (stateJson["step"]?.GetValue<long>() ?? throw new InvalidDataException($"{path}: no \"step\""),
            stateJson["data_position"]?.GetValue<string>() ?? throw new InvalidDataException($"{path}: no \"data_position\""));
    }

    /// <summary>Checkpoint folders under <paramref name="outputDir"/>, oldest first.</summary>
    public static IReadOnlyList<(long Step, string Path)> List(string outputDir)
    {
        if (!Directory.Exists(outputDir)) return [];
        return Directory.GetDirectories(outputDir, Prefix + "*")
            .Select(p => (ok: long.TryParse(Path.GetFileName(p)[Prefix.Length..], out long s), s, p))
            .Where(x => x.ok && File.Exists(Path.Combine(x.p, StateFile)))
            .OrderBy(x => x.s).Select(x => (x.s, x.p)).ToList();
    }

    public static string? Latest(string outputDir) => List(outputDir) is { Count: > 0 } l ? l[^1].Path : null;

    /// <summary>Restores LoRA weights, the base time_cond_proj, AdamW state, RNG and step into <paramref name="d"/>;
    /// returns the data position to continue from.</summary>
    public static string Load(string checkpointDir, Distiller d)
    {
        var student = d.Models.Student.Module;
        using (var weights = LoraWeights.Read(Path.Combine(checkpointDir, LoraSafetensors), student))
        using (torch.no_grad())
        {
            var lora = d.Models.Lora;
            var pars = lora.LoraParameters().ToArray();
            var targets = lora.Targets;
            for (int i = 0; i < targets.Count; i++)
            {
                var pair = weights.Pairs[targets[i].Name];
                pars[2 * i].copy_(pair.Up);
                pars[2 * i + 1].copy_(pair.Down);
            }
        }
        using (var src = new SafeTensorsFile(Path.Combine(checkpointDir, TimeCondProj)))
        using (var v = src.Load(d.Models.Student.GuidanceProjectionKey!))
        using (torch.no_grad())
            GuidanceProjection(d).copy_(v);
        LoadAdamW(Path.Combine(checkpointDir, OptimizerFile), OptimizerStates(d));
        var (step, position) = ReadState(checkpointDir, d.Rng);
        d.ResumeAt(step);
        return position;
    }

    /// <summary>The student's guidance-projection weight (time_cond_proj / time_embedding.cond_proj), saved with every
    /// checkpoint because the official LoRA format has no room for it (spec §3.5).</summary>
    private static Tensor GuidanceProjection(Distiller d)
    {
        string key = d.Models.Student.GuidanceProjectionKey!;
        return d.Models.Student.Module.named_parameters().First(p => p.name == key).parameter;
    }

    private static IEnumerable<(string Name, AdamW.State State)> OptimizerStates(Distiller d)
    {
        var states = d.Optimizer.state_dict().State;
        var targets = d.Models.Lora.Targets;
        if (states.Count != 2 * targets.Count)
            throw new InvalidOperationException($"optimizer has {states.Count} parameter states, the LoRA {2 * targets.Count} parameters");
        for (int i = 0; i < targets.Count; i++)
        {
            yield return ($"{targets[i].Name}.lora_up", (AdamW.State)states[2 * i]);
            yield return ($"{targets[i].Name}.lora_down", (AdamW.State)states[2 * i + 1]);
        }
    }

    /// <summary>AdamW moments by name (<c>&lt;name&gt;.exp_avg</c>, <c>&lt;name&gt;.exp_avg_sq</c>), the AdamW step count
    /// in the metadata (all parameters share it).</summary>
    public static void SaveAdamW(string path, IEnumerable<(string Name, AdamW.State State)> states)
    {
        var tensors = new Dictionary<string, Tensor>();
        long step = 0;
        foreach (var (name, st) in states)
        {
            tensors[$"{name}.exp_avg"] = st.exp_avg.detach().cpu();
            tensors[$"{name}.exp_avg_sq"] = st.exp_avg_sq.detach().cpu();
            step = st.step;
        }
        SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["optimizer"] = "AdamW", ["adam_step"] = step.ToString() });
        foreach (var t in tensors.Values) t.Dispose();
    }

    /// <summary>Restores what <see cref="SaveAdamW"/> wrote into the given states (same names).</summary>
    public static void LoadAdamW(string path, IEnumerable<(string Name, AdamW.State State)> states)
    {
        using var src = new SafeTensorsFile(path);
        long step = long.Parse(src.Metadata["adam_step"]);
        using var _ = torch.no_grad();
        foreach (var (name, st) in states)
        {
            foreach (var (suffix, dst) in new[] { ("exp_avg", st.exp_avg), ("exp_avg_sq", st.exp_avg_sq) })
            {
                string key = $"{name}.{suffix}";
                if (!src.Contains(key)) throw new InvalidDataException($"{path}: no optimizer state '{key}'");
                using var v = src.Load(key);
                dst.copy_(v);
            }
            st.step = step;
        }
    }
}
