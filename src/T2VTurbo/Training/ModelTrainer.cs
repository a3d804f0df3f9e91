using System.Diagnostics;
using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>Full-model training (the VAE, the teacher UNet, …): AdamW over a module's parameters or a chosen subset,
/// one batch per optimizer step, the loss from a <see cref="TrainingStepFunction"/>. <see cref="Run"/> adds the
/// bookkeeping <see cref="DistillRun"/> has for distillation: a JSONL log line per step (train_log.jsonl), atomic
/// folder checkpoints every N steps (the last K kept, see <see cref="ModelCheckpoint"/>) and an exact resume from the
/// newest one. A non-finite loss or gradient stops the run before the update, leaving the last good checkpoint as it
/// was.</summary>
public sealed class ModelTrainer : IDisposable
{
    private readonly TrainingStepFunction stepFunction;
    private readonly (string Name, Parameter Parameter)[] trainable;

    public nn.Module Model { get; }
    public ModelTrainerOptions Options { get; }
    public AdamW Optimizer { get; }
    public TrainingRng Rng { get; }
    /// <summary>The moving average of the trainable weights, when <see cref="ModelTrainerOptions.EmaDecay"/> asks for one.</summary>
    public WeightEma? Ema { get; }
    /// <summary>Optimizer steps done so far.</summary>
    public long Step { get; private set; }

    /// <param name="trains">which named parameters train (null: all); the others get requires_grad = false.</param>
    public ModelTrainer(nn.Module model, TrainingStepFunction step, ModelTrainerOptions options, Func<string, bool>? trains = null)
    {
        options.Validate();
        Model = model;
        Options = options;
        stepFunction = step;
        var all = model.named_parameters().ToArray();
        foreach (var (name, p) in all) p.requires_grad = trains?.Invoke(name) ?? true;
        trainable = all.Where(x => x.parameter.requires_grad).Select(x => (x.name, x.parameter)).ToArray();
        if (trainable.Length == 0) throw new ArgumentException("no parameter of the model is selected for training");
        Rng = new TrainingRng(options.Seed);
        Optimizer = torch.optim.AdamW(trainable.Select(t => t.Parameter), options.LearningRate, options.AdamBeta1, options.AdamBeta2,
            options.AdamEpsilon, options.WeightDecay);
        if (options.EmaDecay > 0) Ema = new WeightEma(trainable, options.EmaDecay);
        model.train();
    }

    public IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters => trainable;

    /// <summary>The AdamW state of every trainable parameter, by parameter name (what a checkpoint saves).</summary>
    public IEnumerable<(string Name, AdamW.State State)> OptimizerStates()
    {
        var states = Optimizer.state_dict().State;
        if (states.Count != trainable.Length)
            throw new InvalidOperationException($"the optimizer has {states.Count} parameter states for {trainable.Length} trainable parameters");
        for (int i = 0; i < trainable.Length; i++) yield return (trainable[i].Name, (AdamW.State)states[i]);
    }

    /// <summary>Sets the step counter after a resume (weights, optimizer and RNG are restored by <see cref="ModelCheckpoint"/>).</summary>
    public void ResumeAt(long step) => Step = step;

    public double LearningRateAt(long step) => OptimizerMath.LearningRateAt(Options.LearningRate, Options.WarmupSteps, step);

    /// <summary>One optimizer step on the next batch: loss, backward, clip, AdamW. Throws
    /// <see cref="NonFiniteLossException"/> (nothing applied) when a loss term or the gradient norm is not finite.</summary>
    public StepReport TrainStep(ITrainingBatches data)
    {
        var clock = Stopwatch.StartNew();
        Rng.SeedGlobalForStep(Step);
        double lr = LearningRateAt(Step);
        foreach (var g in Optimizer.ParamGroups) g.LearningRate = lr;
        Optimizer.zero_grad();
        Dictionary<string, double> terms;
        using (var batch = data.Next())
        using (var scope = torch.NewDisposeScope())
        {
            batch.Check();
            var (loss, stepTerms) = stepFunction(batch, Rng);
            if (loss.numel() != 1) throw new InvalidOperationException($"the training step must return a scalar loss, got [{string.Join(", ", loss.shape)}]");
            terms = new Dictionary<string, double>(stepTerms) { ["loss"] = loss.to(ScalarType.Float32).item<float>() };
            foreach (var (k, v) in terms)
                if (!double.IsFinite(v)) throw new NonFiniteLossException(Step + 1, $"{k} ({v})");
            loss.backward();
        }
        double gradNorm = OptimizerMath.ClipGradients(trainable.Select(t => t.Parameter.grad), Options.MaxGradNorm);
        if (!double.IsFinite(gradNorm)) throw new NonFiniteLossException(Step + 1, $"the gradient norm ({gradNorm})");
        Optimizer.step();
        Step++;
        Ema?.Update(Step);
        return new StepReport(Step, terms, lr, gradNorm, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Trains until <see cref="ModelTrainerOptions.MaxTrainSteps"/> (or <see cref="ModelTrainerOptions.MaxTrainTime"/>),
    /// resuming first when asked.</summary>
    /// <param name="onStep">called after every step (progress display); may throw to stop the run.</param>
    /// <returns>the step reached.</returns>
    public long Run(ITrainingBatches data, Action<StepReport>? onStep = null, CancellationToken cancellationToken = default)
    {
        var o = Options;
        Directory.CreateDirectory(o.OutputDir);
        string logPath = Path.Combine(o.OutputDir, DistillRun.LogFile);
        if (o.Resume && TrainingCheckpoint.Latest(o.OutputDir) is { } latest)
        {
            data.Restore(ModelCheckpoint.Load(latest, this));
            DistillRun.TruncateLog(logPath, Step);
        }
        else
        {
            if (File.Exists(logPath)) File.Delete(logPath);
            if (o.LogHeader is { } header)
            {
                var line = new JsonObject { ["step"] = Step };
                foreach (var (k, v) in header) line[k] = v?.DeepClone();
                DistillRun.AppendLog(logPath, line);
            }
        }

        long lastSaved = Step;
        StoppedByTime = false;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (Step < o.MaxTrainSteps)
        {
            if (o.MaxTrainTime is { } limit && clock.Elapsed >= limit)
            {
                StoppedByTime = true;
                DistillRun.AppendLog(logPath, new JsonObject { ["step"] = Step, ["stopped"] = $"time limit {limit.TotalMinutes:G4} min reached" });
                break;
            }
            cancellationToken.ThrowIfCancellationRequested();
            StepReport report;
            try
            {
                report = TrainStep(data);
            }
            catch (NonFiniteLossException e)
            {
                DistillRun.AppendLog(logPath, new JsonObject { ["step"] = Step + 1, ["error"] = e.Message });
                throw;
            }
            var line = DistillRun.LogLine(report);
            foreach (var (k, v) in data.Stats) line[$"data_{k}"] = v;
            DistillRun.AppendLog(logPath, line);
            if (o.CheckpointingSteps > 0 && Step % o.CheckpointingSteps == 0)
            {
                ModelCheckpoint.Save(o.OutputDir, this, data.Position);
                lastSaved = Step;
            }
            onStep?.Invoke(report);
        }
        if (lastSaved != Step || TrainingCheckpoint.Latest(o.OutputDir) is null) ModelCheckpoint.Save(o.OutputDir, this, data.Position);
        return Step;
    }

    /// <summary>True when the last <see cref="Run"/> ended at <see cref="ModelTrainerOptions.MaxTrainTime"/> before its step count.</summary>
    public bool StoppedByTime { get; private set; }

    /// <summary>Replaces the model's trained weights by their moving average (no-op without an EMA): call after
    /// <see cref="Run"/>, before exporting; the checkpoints keep both.</summary>
    public void UseAveragedWeights() => Ema?.CopyToModel();

    public void Dispose()
    {
        Ema?.Dispose();
        Optimizer.Dispose();
        Rng.Dispose();
    }
}
