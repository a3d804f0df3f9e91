using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>One training step's loss on a batch: the scalar to back-propagate and the terms to log (the trainer adds
/// "loss" itself). Every random draw must come from <paramref name="rng"/> (or torch's global generator, which the
/// trainer re-seeds from (seed, step) before each step) so that a resumed run repeats it.</summary>
public delegate (Tensor Loss, Dictionary<string, double> Terms) TrainingStepFunction(TrainingBatch batch, TrainingRng rng);

/// <summary>Settings of a <see cref="ModelTrainer"/> run: AdamW (torch's defaults except the learning rate), a constant
/// learning rate after an optional linear warm-up, gradient-norm clipping, and the loop's bookkeeping.</summary>
public sealed record ModelTrainerOptions
{
    public required string OutputDir { get; init; }
    public long MaxTrainSteps { get; init; } = 1000;
    /// <summary>Also stop (checkpointed, like the last step) once this much wall-clock time has passed in this
    /// invocation (null = no limit): a fixed budget on machines of unknown speed. A resume starts a fresh budget.</summary>
    public TimeSpan? MaxTrainTime { get; init; }
    public double LearningRate { get; init; } = 1e-4;
    /// <summary>Linear warm-up over the first WarmupSteps steps (0 = constant from the start).</summary>
    public int WarmupSteps { get; init; }
    /// <summary>Clip the global gradient L2 norm to this (0 = no clipping; the norm is still logged).</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    public double AdamBeta1 { get; init; } = 0.9;
    public double AdamBeta2 { get; init; } = 0.999;
    public double AdamEpsilon { get; init; } = 1e-8;
    public double WeightDecay { get; init; } = 1e-2;
    /// <summary>Keep an exponential moving average of the trained weights with this decay (0 = none); see
    /// <see cref="WeightEma"/>. Checkpoints carry it; <see cref="ModelTrainer.UseAveragedWeights"/> puts it into the model.</summary>
    public double EmaDecay { get; init; }
    public long Seed { get; init; }
    /// <summary>Checkpoint every N steps (0 = only at the end); the run's last step is always checkpointed.</summary>
    public int CheckpointingSteps { get; init; } = 500;
    /// <summary>Checkpoints kept (0 = all).</summary>
    public int CheckpointsTotalLimit { get; init; } = 3;
    /// <summary>Continue from the newest checkpoint in OutputDir (a fresh start when there is none).</summary>
    public bool Resume { get; init; }
    /// <summary>Saved with each checkpoint (the CLI's arguments).</summary>
    public JsonObject? Args { get; init; }
    /// <summary>Written as the first line of a fresh run's log with "step": 0 (e.g. which weights the run started
    /// from); a resume keeps it.</summary>
    public JsonObject? LogHeader { get; init; }

    public void Validate()
    {
        if (MaxTrainSteps < 0) throw new ArgumentException($"max train steps must be ≥ 0, got {MaxTrainSteps}");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw new ArgumentException($"learning rate must be positive, got {LearningRate}");
        if (MaxTrainTime is { } t && t <= TimeSpan.Zero) throw new ArgumentException($"max train time must be positive, got {t}");
        if (WarmupSteps < 0) throw new ArgumentException($"warm-up steps must be ≥ 0, got {WarmupSteps}");
        if (MaxGradNorm < 0) throw new ArgumentException($"max grad norm must be ≥ 0, got {MaxGradNorm}");
        if (EmaDecay != 0 && !(EmaDecay > 0 && EmaDecay < 1)) throw new ArgumentException($"EMA decay must be 0 (off) or in (0, 1), got {EmaDecay}");
        if (CheckpointingSteps < 0) throw new ArgumentException($"checkpointing steps must be ≥ 0, got {CheckpointingSteps}");
        if (CheckpointsTotalLimit < 0) throw new ArgumentException($"checkpoints total limit must be ≥ 0, got {CheckpointsTotalLimit}");
        if (string.IsNullOrWhiteSpace(OutputDir)) throw new ArgumentException("an output folder is needed");
    }
}
