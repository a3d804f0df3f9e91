using System.Globalization;
using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Pipelines;
using T2VTurbo.Video;
using TorchSharp;

namespace T2VTurbo.Training;

/// <summary>Loop settings of a distillation run (spec §4.1 defaults: 10 000 steps, checkpoints every 2 000, 5 kept,
/// validation every 500).</summary>
public sealed record DistillRunOptions
{
    public required string OutputDir { get; init; }
    public long MaxTrainSteps { get; init; } = 10000;
    public int CheckpointingSteps { get; init; } = 2000;
    public int CheckpointsTotalLimit { get; init; } = 5;
    /// <summary>0 = no validation videos.</summary>
    public int ValidationSteps { get; init; } = 500;
    public IReadOnlyList<string> ValidationPrompts { get; init; } = [];
    /// <summary>Sampling steps of the validation videos (one video per prompt and entry).</summary>
    public IReadOnlyList<int> ValidationInferenceSteps { get; init; } = [4, 8];
    /// <summary>Size, frames, seed, guidance of the validation videos (Mode and Steps are overridden).</summary>
    public GenerateOptions ValidationOptions { get; init; } = new() { Seed = 123 };
    /// <summary>Video file extension of the validation videos (mp4 needs ffmpeg; gif/webp do not).</summary>
    public string ValidationFormat { get; init; } = "mp4";
    /// <summary>Continue from the newest checkpoint in OutputDir (a fresh start when there is none).</summary>
    public bool Resume { get; init; }
    /// <summary>Saved with each checkpoint (the CLI's arguments).</summary>
    public JsonObject? Args { get; init; }
}

/// <summary>Runs <see cref="Distiller"/> steps with the bookkeeping of train_t2v_turbo_v1_lora.py: a JSONL log line per
/// step (train_log.jsonl: every loss term and reward, lr, grad norm, seconds), folder checkpoints every N steps (the
/// last K kept), validation videos (the student with its LoRA hooks, 4 and 8 steps), resume from the newest
/// checkpoint. A non-finite loss stops the run before the update, leaving the last good checkpoint untouched.</summary>
public static class DistillRun
{
    public const string LogFile = "train_log.jsonl";

    /// <param name="validation">a pipeline whose Unet is the distiller's student (null: no validation videos).</param>
    /// <param name="onStep">called after every step (progress display); may throw to stop the run.</param>
    /// <returns>the step reached.</returns>
    public static long Run(Distiller d, ITrainingBatches data, DistillRunOptions opts, TextToVideoPipeline? validation = null,
        Action<StepReport>? onStep = null, CancellationToken cancellationToken = default)
    {
        if (validation is not null && !ReferenceEquals(validation.Denoiser.Module, d.Models.Student.Module))
            throw new ArgumentException("the validation pipeline must use the distiller's student UNet (its LoRA hooks are what is validated)");
        Directory.CreateDirectory(opts.OutputDir);
        string logPath = Path.Combine(opts.OutputDir, LogFile);
        if (opts.Resume && TrainingCheckpoint.Latest(opts.OutputDir) is { } latest)
        {
            data.Restore(TrainingCheckpoint.Load(latest, d));
            TruncateLog(logPath, d.Step);
        }
        else if (File.Exists(logPath)) File.Delete(logPath);

        long lastSaved = d.Step;
        while (d.Step < opts.MaxTrainSteps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            StepReport report;
            try
            {
                report = d.TrainStep(data);
            }
            catch (NonFiniteLossException e)
            {
                AppendLog(logPath, new JsonObject { ["step"] = d.Step + 1, ["error"] = e.Message });
                throw;
            }
            var line = LogLine(report);
            foreach (var (k, v) in data.Stats) line[$"data_{k}"] = v;
            AppendLog(logPath, line);
            if (opts.CheckpointingSteps > 0 && d.Step % opts.CheckpointingSteps == 0)
            {
                TrainingCheckpoint.Save(opts.OutputDir, d, data.Position, opts.Args, opts.CheckpointsTotalLimit);
                lastSaved = d.Step;
            }
            if (validation is not null && opts.ValidationSteps > 0 && opts.ValidationPrompts.Count > 0 && d.Step % opts.ValidationSteps == 0)
                Validate(d, validation, opts);
            onStep?.Invoke(report);
        }
        if (lastSaved != d.Step) TrainingCheckpoint.Save(opts.OutputDir, d, data.Position, opts.Args, opts.CheckpointsTotalLimit);
        return d.Step;
    }

    /// <summary>Writes validation/step-&lt;step&gt;/&lt;prompt#&gt;-&lt;steps&gt;steps.&lt;ext&gt; with the student as it is now
    /// (eval mode for the videos, train mode again afterwards).</summary>
    public static IReadOnlyList<string> Validate(Distiller d, TextToVideoPipeline pipeline, DistillRunOptions opts)
    {
        var written = new List<string>();
        var dir = Path.Combine(opts.OutputDir, "validation", $"step-{d.Step}");
        d.Models.Student.Module.eval();
        d.Models.Lora.eval();
        try
        {
            foreach (int steps in opts.ValidationInferenceSteps)
            {
                var options = opts.ValidationOptions with { Mode = GenerationMode.Turbo, Steps = steps, VideosPerPrompt = 1, OnStep = null };
                using var result = pipeline.Generate(opts.ValidationPrompts, options);
                var videos = VideoFrames.FromBatch(result.Videos);
                for (int i = 0; i < videos.Count; i++)
                {
                    string path = Path.Combine(dir, $"{i}-{steps}steps.{opts.ValidationFormat}");
                    Directory.CreateDirectory(dir);
                    var meta = new VideoMetadata(result.Prompts[i], result.Seed, steps, options.ResolvedGuidance, $"distill step {d.Step}", "turbo");
                    VideoWriter.Write(path, videos[i], result.Fps, meta);
                    written.Add(path);
                }
            }
        }
        finally
        {
            d.Models.Student.Module.train();
            d.Models.Lora.train();
        }
        return written;
    }

    internal static JsonObject LogLine(StepReport r)
    {
        var line = new JsonObject
        {
            ["step"] = r.Step,
            ["lr"] = r.LearningRate,
            ["grad_norm"] = r.GradNorm,
            ["seconds"] = Math.Round(r.Seconds, 4),
        };
        foreach (var (k, v) in r.Terms.OrderBy(kv => kv.Key, StringComparer.Ordinal)) line[k] = v;
        return line;
    }

    internal static void AppendLog(string path, JsonObject line) =>
        File.AppendAllText(path, line.ToJsonString() + "\n");

    /// <summary>After a resume, drops log lines of steps past the checkpoint (they are about to be redone).</summary>
    internal static void TruncateLog(string path, long step)
    {
        if (!File.Exists(path)) return;
        var kept = File.ReadAllLines(path).Where(l =>
        {
            try { return JsonNode.Parse(l)?["step"]?.GetValue<long>() is long s && s <= step; }
            catch (System.Text.Json.JsonException) { return false; }
        }).ToList();
        AtomicFile.WriteAllText(path, string.Concat(kept.Select(l => l + "\n")));
    }

    /// <summary>Formats a step's terms for a progress line, e.g. "loss 0.0123 · loss_cd 0.0120 · reward_hpsv2 0.271".</summary>
    public static string Summary(StepReport r) =>
        string.Join(" · ", r.Terms.Where(kv => kv.Key.StartsWith("loss", StringComparison.Ordinal) || kv.Key.StartsWith("reward", StringComparison.Ordinal))
            .OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value.ToString("G4", CultureInfo.InvariantCulture)}"));
}
