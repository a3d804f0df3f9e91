using System.Diagnostics;
using T2VTurbo.Lora;
using T2VTurbo.Models;
using T2VTurbo.Models.Unet;
using T2VTurbo.Rewards;
using T2VTurbo.Schedulers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using T2VTurbo.Pipelines;

namespace T2VTurbo.Training;

/// <summary>The networks of a distillation run. Student: a T2V-Turbo UNet (time_cond_proj) with teacher weights and
/// LoRA injected; teacher: the original VideoCrafter2 UNet; both in the same dtype. EncodeText: captions → context
/// [N, 77, D], run without gradients.</summary>
public sealed record DistillModels(IDenoisingUnet Student, LoraInjection Lora, IDenoisingUnet Teacher, KlAutoencoder Vae,
    Func<IReadOnlyList<string>, Tensor> EncodeText);

/// <summary>What one optimizer step did: every loss term and reward (mean over the micro-steps that computed it),
/// the learning rate, the gradient norm before clipping, and the wall time.</summary>
public sealed record StepReport(long Step, IReadOnlyDictionary<string, double> Terms, double LearningRate, double GradNorm, double Seconds);

/// <summary>Thrown when a loss term or the gradient is NaN/Inf; the step is not applied.</summary>
public sealed class NonFiniteLossException(long step, string what) : Exception($"step {step}: {what} is not finite; the update was not applied");

/// <summary>T2V-Turbo v1 consistency distillation with mixed reward feedback, one optimizer step at a time
/// (train_t2v_turbo_v1_lora.py, spec §4.4). Only the LoRA weights train (AdamW, fp32 master weights even when the
/// UNets compute in bf16: the LoRA hooks cast them to the activations' dtype).
/// Deviation from the reference: the teacher runs in eval mode (its TemporalConvBlock dropout is off); v1 leaves it in
/// train mode (spec §9 item 3). The teacher's unconditional pass gets the same fps as the conditional one (the
/// reference omits it and falls back to 16, equal for the default fps=16; spec §9 item 9).</summary>
public sealed class Distiller : IDisposable
{
    private readonly DistillModels m;
    private readonly DistillOptions o;
    private readonly IReadOnlyList<RewardTerm> rewards;
    private readonly TurboScheduler scheduler;
    private readonly ConsistencyDistillation cd;
    private readonly Dictionary<long, Tensor> uncondContexts = new();
    private readonly Parameter[] trainable;

    public AdamW Optimizer { get; }
    public TrainingRng Rng { get; }
    /// <summary>Optimizer steps done so far.</summary>
    public long Step { get; private set; }
    public DistillOptions Options => o;
    public DistillModels Models => m;

    public Distiller(DistillModels models, IReadOnlyList<RewardTerm> rewards, DistillOptions options, TurboScheduler? scheduler = null)
    {
        options.Validate();
        if (models.Student.GuidanceEmbeddingDim is null)
            throw new ArgumentException("the student UNet needs a guidance-embedding input (time_cond_proj / time_embedding.cond_proj)");
        if (models.Teacher.GuidanceEmbeddingDim is not null)
            throw new ArgumentException("the teacher must be the original UNet (no guidance-embedding input)");
        foreach (var r in rewards)
            if (r.Frames < 1) throw new ArgumentException($"reward {r.Model.Name}: frames must be ≥ 1, got {r.Frames}");
        m = models;
        o = options;
        this.rewards = rewards;
        this.scheduler = scheduler ?? new TurboScheduler();
        cd = new ConsistencyDistillation(this.scheduler, o.NumDdimTimesteps, o.Topk, o.WMin, o.WMax);
        Rng = new TrainingRng(o.Seed);

        foreach (var p in m.Student.Module.parameters()) p.requires_grad = false;
        foreach (var p in m.Teacher.Module.parameters()) p.requires_grad = false;
        foreach (var p in m.Vae.parameters()) p.requires_grad = false;
        trainable = m.Lora.LoraParameters().ToArray();
        foreach (var p in trainable) p.requires_grad = true;
        // Reference: student in train mode (LoRA and temporal-conv dropout active in the online and the target pass).
        m.Student.Module.train();
        m.Lora.train();
        m.Teacher.Module.eval();
        m.Vae.eval();
        if (!m.Student.TrySetBlockRunner(o.GradientCheckpointing ? GradientCheckpoint.Run : null))
            throw new NotSupportedException("gradient checkpointing is not available for this UNet family; use --no-gradient-checkpointing");
        Optimizer = torch.optim.AdamW(trainable, o.LearningRate, o.AdamBeta1, o.AdamBeta2, o.AdamEpsilon, o.WeightDecay);
    }

    public IReadOnlyList<Parameter> TrainableParameters => trainable;

    /// <summary>Sets the step counter after a resume (the optimizer and RNG state are restored separately).</summary>
    public void ResumeAt(long step) => Step = step;

    /// <summary>Constant learning rate with optional linear warm-up over the first WarmupSteps steps.</summary>
    public double LearningRateAt(long step) => OptimizerMath.LearningRateAt(o.LearningRate, o.WarmupSteps, step);

    /// <summary>One optimizer step: the micro-steps of <see cref="DistillOptions.MicroSteps"/>, each on a new batch,
    /// gradients averaged over them; clip to MaxGradNorm; AdamW. Throws <see cref="NonFiniteLossException"/> (nothing
    /// applied) when a loss or the gradient norm is not finite.</summary>
    public StepReport TrainStep(ITrainingBatches data)
    {
        var clock = Stopwatch.StartNew();
        Rng.SeedGlobalForStep(Step);
        double lr = LearningRateAt(Step);
        foreach (var g in Optimizer.ParamGroups) g.LearningRate = lr;
        Optimizer.zero_grad();
        var roles = o.MicroSteps(rewards.Any(r => r.Model.Kind == RewardKind.Video));
        var sums = new Dictionary<string, (double Sum, int Count)>();
        foreach (var role in roles)
        {
            using var batch = data.Next();
            foreach (var (k, v) in MicroStep(batch, role, 1.0 / roles.Count))
            {
                var (s, c) = sums.GetValueOrDefault(k);
                sums[k] = (s + v, c + 1);
            }
        }
        double gradNorm = OptimizerMath.ClipGradients(trainable.Select(p => p.grad), o.MaxGradNorm);
        if (!double.IsFinite(gradNorm)) throw new NonFiniteLossException(Step + 1, $"the gradient norm ({gradNorm})");
        Optimizer.step();
        Step++;
        var terms = sums.ToDictionary(kv => kv.Key, kv => kv.Value.Sum / kv.Value.Count);
        return new StepReport(Step, terms, lr, gradNorm, clock.Elapsed.TotalSeconds);
    }

    /// <summary>§4.4 on one batch; adds scale·loss's gradient to the LoRA weights. Returns the terms it computed.</summary>
    private Dictionary<string, double> MicroStep(TrainingBatch batch, MicroStepRole role, double scale)
    {
        batch.Check();
        using var scope = torch.NewDisposeScope();
        var device = m.Student.Module.parameters().First().device;
        var terms = new Dictionary<string, double>();
        long b = batch.Videos.shape[0];
        var captions = batch.Captions;

        // 1. latents z = scale_factor · posterior sample (noise drawn from the run's generator), and the text context
        Tensor z, context;
        using (torch.no_grad())
        {
            var vaeDtype = m.Vae.parameters().First().dtype;
            var video = batch.Videos.to(vaeDtype, device);                                   // [B, 3, T, H, W]
            long down = m.Vae.Config.DownFactor;
            var postNoise = Rng.Randn(new[] { b, m.Vae.Config.embed_dim, video.shape[2], video.shape[3] / down, video.shape[4] / down })
                .to(vaeDtype, device);
            z = m.Vae.EncodeVideo(video, postNoise, o.VaeEncodeChunk).to(ScalarType.Float32); // [B, 4, T, h, w]
            context = m.EncodeText(captions).to(device);                                      // [B, 77, D]
        }

        // 2-4. DDIM index, start/end timesteps, forward noise, guidance scale and its embedding
        var index = Rng.RandInt(o.NumDdimTimesteps, new[] { b }).to(device);
        var (tStart, tEnd) = cd.Timesteps(index);
        var noise = Rng.Randn(z.shape).to(device);
        var noisy = scheduler.AddNoise(z, noise, tStart);                                    // x_s, float32
        var w = cd.GuidanceScale(Rng.Rand(new[] { b })).to(device);                           // [B]
        var wEmb = Embeddings.Guidance(w, (int)m.Student.GuidanceEmbeddingDim!.Value);        // [B, 256]
        var fps = torch.full(new[] { b }, o.Fps, dtype: ScalarType.Int64, device: device);

        // 5. online student, single-step sample ŷ (with grad)
        var epsStudent = m.Student.Predict(noisy, tStart, context, fps, wEmb, null);
        var yHat = cd.ConsistencyOutput(noisy, tStart, epsStudent);                          // [B, 4, T, h, w]
        var loss = torch.zeros(Array.Empty<long>(), dtype: ScalarType.Float32, device: device);

        // 6-7. reward terms on decoded frames of ŷ
        foreach (var term in rewards)
        {
            bool wanted = role == MicroStepRole.All ||
                          (term.Model.Kind == RewardKind.Image ? role == MicroStepRole.ConsistencyAndImage : role == MicroStepRole.VideoReward);
            if (!wanted || term.Weight == 0) continue;
            var (lossR, score) = RewardLosses.Compute(term, yHat, captions, m.Vae, Rng, o.RewardDecodeChunk);
            terms[$"loss_{term.Model.Name}"] = lossR.item<float>();
            terms[$"reward_{term.Model.Name}"] = score.item<float>();
            loss = loss + lossR;
        }

        // 8-10. teacher CFG (LCM form) + one DDIM step to t_e, target = same student without grad, pseudo-Huber
        // (skipped, teacher included, when its weight is 0: reward-only fine-tuning)
        if (role != MicroStepRole.VideoReward && o.ConsistencyWeight != 0)
        {
            Tensor target;
            using (torch.no_grad())
            {
                var epsCond = m.Teacher.Predict(noisy, tStart, context, fps, null, null);
                var epsUncond = m.Teacher.Predict(noisy, tStart, Uncond(b, device), fps, null, null);
                var (_, _, xPrev) = cd.TeacherStep(noisy, tStart, index, epsCond, epsUncond, w); // float64, at t_e
                var epsTarget = m.Student.Predict(xPrev, tEnd, context, fps, wEmb, null);
                target = cd.ConsistencyOutput(xPrev, tEnd, epsTarget);
            }
            var lossCd = ConsistencyLosses.PseudoHuber(yHat, target, o.HuberC);
            terms["loss_cd"] = lossCd.item<float>();
            loss = loss + o.ConsistencyWeight * lossCd;
        }

        float total = loss.item<float>();
        terms["loss"] = total;
        foreach (var (k, v) in terms)
            if (!double.IsFinite(v)) throw new NonFiniteLossException(Step + 1, $"{k} ({v})");
        terms["t_start"] = tStart.to(ScalarType.Float32).mean().item<float>();
        terms["w"] = w.mean().item<float>();
        if (loss.requires_grad) (loss * scale).backward();
        return terms;
    }

    private Tensor Uncond(long b, Device device)
    {
        if (!uncondContexts.TryGetValue(b, out var u))
        {
            using (torch.no_grad())
                u = m.EncodeText(Enumerable.Repeat("", (int)b).ToList()).to(device).DetachFromDisposeScope();
            uncondContexts[b] = u;
        }
        return u;
    }

    public void Dispose()
    {
        foreach (var u in uncondContexts.Values) u.Dispose();
        uncondContexts.Clear();
        Optimizer.Dispose();
        Rng.Dispose();
        m.Student.TrySetBlockRunner(null);
    }
}
