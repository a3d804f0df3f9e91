using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>One training batch: videos [B, 3, T, H, W] in [−1, 1] (float, CPU or device) and one caption per video.
/// The batch owns the tensor.</summary>
public sealed record TrainingBatch(Tensor Videos, string[] Captions) : IDisposable
{
    public void Check()
    {
        if (Videos.dim() != 5 || Videos.shape[1] != 3)
            throw new ArgumentException($"training batch: videos must be [B, 3, T, H, W], got [{string.Join(",", Videos.shape)}]");
        if (Captions.Length != Videos.shape[0])
            throw new ArgumentException($"training batch: {Captions.Length} captions for {Videos.shape[0]} videos");
    }

    public void Dispose() => Videos.Dispose();
}

/// <summary>An endless, resumable stream of training batches (a data reader cycles over its epochs itself).
/// <see cref="Position"/> is an opaque, JSON-serialisable string that, given to <see cref="Restore"/> on a fresh
/// source over the same data, makes <see cref="Next"/> continue with exactly the batch that would have come next —
/// this is what a training checkpoint stores.</summary>
public interface ITrainingBatches : IDisposable
{
    TrainingBatch Next();
    string Position { get; }
    void Restore(string position);
    /// <summary>Counters worth logging each step (e.g. videos skipped as unreadable or too short).</summary>
    IReadOnlyDictionary<string, long> Stats => new Dictionary<string, long>();
}

/// <summary>What a video data reader is asked for (spec §4.3: 16 frames at 16 fps, resized to 320×512).
/// <paramref name="CacheMegabytes"/> &gt; 0 keeps decoded videos in memory up to that size (small data sets such as
/// ShapesBench, where decoding every clip through ffmpeg every step would dominate the step time).</summary>
public sealed record TrainingDataSpec(int BatchSize, int Frames, int Height, int Width, int Fps, long Seed, int CacheMegabytes = 0);
