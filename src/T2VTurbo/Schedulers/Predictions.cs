using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Schedulers;

/// <summary>What the network predicts. T2V-Turbo's teachers and students all predict ε.</summary>
public enum PredictionType { Epsilon, Sample, VPrediction }

/// <summary>x0 / ε conversions of the consistency-distillation code (utils/common_utils.py
/// get_predicted_original_sample / get_predicted_noise), with <c>alphas = sqrt(ᾱ)</c> and <c>sigmas = sqrt(1−ᾱ)</c>
/// tables gathered at each sample's timestep.</summary>
public static class Predictions
{
    public static PredictionType Parse(string name) => name switch
    {
        "epsilon" => PredictionType.Epsilon,
        "sample" => PredictionType.Sample,
        "v_prediction" => PredictionType.VPrediction,
        _ => throw new ArgumentException($"prediction_type '{name}' is not supported (epsilon, sample, v_prediction)"),
    };

    /// <summary>x0 from the network output: ε: (x − σ·out)/α; sample: out; v: α·x − σ·out.</summary>
    public static Tensor OriginalSample(Tensor modelOutput, Tensor timesteps, Tensor sample, PredictionType type, Tensor alphas, Tensor sigmas)
    {
        using var scope = torch.NewDisposeScope();
        var a = ExtractIntoTensor(alphas, timesteps, sample.shape);
        var s = ExtractIntoTensor(sigmas, timesteps, sample.shape);
        var x0 = type switch
        {
            PredictionType.Epsilon => (sample - s * modelOutput) / a,
            PredictionType.Sample => modelOutput.alias(),
            PredictionType.VPrediction => a * sample - s * modelOutput,
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
        return x0.MoveToOuterDisposeScope();
    }

    /// <summary>ε from the network output: ε: out; sample: (x − α·out)/σ; v: α·out + σ·x.</summary>
    public static Tensor Noise(Tensor modelOutput, Tensor timesteps, Tensor sample, PredictionType type, Tensor alphas, Tensor sigmas)
    {
        using var scope = torch.NewDisposeScope();
        var a = ExtractIntoTensor(alphas, timesteps, sample.shape);
        var s = ExtractIntoTensor(sigmas, timesteps, sample.shape);
        var eps = type switch
        {
            PredictionType.Epsilon => modelOutput.alias(),
            PredictionType.Sample => (sample - a * modelOutput) / s,
            PredictionType.VPrediction => a * modelOutput + s * sample,
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
        return eps.MoveToOuterDisposeScope();
    }

    /// <summary><c>a.gather(-1, t).reshape(B, 1, …, 1)</c> so a per-timestep table value broadcasts over x.
    /// a: [T] table; t: int64 [B].</summary>
    public static Tensor ExtractIntoTensor(Tensor table, Tensor timesteps, long[] xShape)
    {
        if (timesteps.dim() != 1) throw new ArgumentException($"timesteps must be 1-D [B], got [{string.Join(",", timesteps.shape)}]");
        if (timesteps.dtype != ScalarType.Int64) throw new ArgumentException($"timesteps must be int64, got {timesteps.dtype}");
        var b = timesteps.shape[0];
        if (xShape.Length < 1 || xShape[0] != b) throw new ArgumentException($"batch of timesteps ({b}) does not match x [{string.Join(",", xShape)}]");
        using var scope = torch.NewDisposeScope();
        var shape = new long[xShape.Length];
        shape[0] = b;
        for (int i = 1; i < shape.Length; i++) shape[i] = 1;
        return table.gather(-1, timesteps.to(table.device)).reshape(shape).MoveToOuterDisposeScope();   // [B, 1, …]
    }
}
