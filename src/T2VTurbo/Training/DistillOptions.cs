namespace T2VTurbo.Training;

/// <summary>How one GPU stands in for the reference's 6:2 split of ranks (spec §4.4, "Multi-GPU weighting").</summary>
public enum RoleSplit
{
    /// <summary>(a) every micro-step computes L_cd and every reward term on the same sample, each with its weight.</summary>
    Joint,
    /// <summary>(b) micro-steps take the roles of the ranks in turn (CD + image reward, or video reward only, without
    /// the teacher), and their gradients are averaged like DDP does: ≈ 0.75·∇L_cd + 0.75·∇L_img + 0.25·∇L_vid for 6:2.</summary>
    Alternate,
}

/// <summary>Hyper-parameters of T2V-Turbo v1 distillation; defaults are train_t2v_turbo_v1.sh's values (spec §4.1)
/// except the optimizer (AdamW instead of AdamW8bit).</summary>
public sealed record DistillOptions
{
    public long Seed { get; init; } = 453645634;
    public double LearningRate { get; init; } = 1e-5;
    /// <summary>Linear warm-up steps (0 = the reference's constant schedule, which ignores its warm-up argument).</summary>
    public int WarmupSteps { get; init; }
    public double AdamBeta1 { get; init; } = 0.9;
    public double AdamBeta2 { get; init; } = 0.999;
    public double AdamEpsilon { get; init; } = 1e-8;
    public double WeightDecay { get; init; }
    public double MaxGradNorm { get; init; } = 1.0;
    public int GradientAccumulationSteps { get; init; } = 1;
    public int NumDdimTimesteps { get; init; } = 50;
    public int Topk { get; init; } = 20;
    public double WMin { get; init; } = 5.0;
    public double WMax { get; init; } = 15.0;
    public double HuberC { get; init; } = 0.001;
    /// <summary>Conditioning fps for student and teacher (the data is sampled at this rate too).</summary>
    public long Fps { get; init; } = 16;
    public double ConsistencyWeight { get; init; } = 1.0;
    public RoleSplit Roles { get; init; } = RoleSplit.Joint;
    /// <summary>Ranks computing CD + image reward vs video reward in the reference (for <see cref="RoleSplit.Alternate"/>).</summary>
    public int ConsistencyRanks { get; init; } = 6;
    public int VideoRewardRanks { get; init; } = 2;
    public long LoraRank { get; init; } = 64;
    /// <summary>Frames per VAE encoder call (vae_encode_batch_size).</summary>
    public int VaeEncodeChunk { get; init; } = 8;
    /// <summary>Frames per VAE decoder call for the rewards (null: all selected frames at once).</summary>
    public int? RewardDecodeChunk { get; init; }
    /// <summary>Activation checkpointing of the student's UNet blocks (the reference's use_checkpoint: true).</summary>
    public bool GradientCheckpointing { get; init; } = true;

    public void Validate()
    {
        if (LearningRate <= 0) throw new ArgumentException($"learning rate must be > 0, got {LearningRate}");
        if (WarmupSteps < 0) throw new ArgumentException($"warm-up steps must be ≥ 0, got {WarmupSteps}");
        if (MaxGradNorm <= 0) throw new ArgumentException($"max grad norm must be > 0, got {MaxGradNorm}");
        if (GradientAccumulationSteps < 1) throw new ArgumentException($"gradient accumulation steps must be ≥ 1, got {GradientAccumulationSteps}");
        if (WMin > WMax) throw new ArgumentException($"w_min {WMin} > w_max {WMax}");
        if (HuberC <= 0) throw new ArgumentException($"huber_c must be > 0, got {HuberC}");
        if (ConsistencyRanks < 1 || VideoRewardRanks < 0) throw new ArgumentException($"rank split {ConsistencyRanks}:{VideoRewardRanks} needs ≥ 1 CD rank and ≥ 0 video ranks");
        if (LoraRank < 1) throw new ArgumentException($"LoRA rank must be ≥ 1, got {LoraRank}");
        if (VaeEncodeChunk < 1) throw new ArgumentException($"VAE encode chunk must be ≥ 1, got {VaeEncodeChunk}");
    }

    /// <summary>The roles of the micro-steps of one optimizer step.</summary>
    public IReadOnlyList<MicroStepRole> MicroSteps(bool hasVideoReward)
    {
        var roles = new List<MicroStepRole>();
        for (int a = 0; a < GradientAccumulationSteps; a++)
        {
            if (Roles == RoleSplit.Joint || !hasVideoReward || VideoRewardRanks == 0) { roles.Add(MicroStepRole.All); continue; }
            int g = Gcd(ConsistencyRanks, VideoRewardRanks);
            for (int i = 0; i < ConsistencyRanks / g; i++) roles.Add(MicroStepRole.ConsistencyAndImage);
            for (int i = 0; i < VideoRewardRanks / g; i++) roles.Add(MicroStepRole.VideoReward);
        }
        return roles;
    }

    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
}

/// <summary>What a micro-step computes (the role of a rank in the reference).</summary>
public enum MicroStepRole { All, ConsistencyAndImage, VideoReward }
