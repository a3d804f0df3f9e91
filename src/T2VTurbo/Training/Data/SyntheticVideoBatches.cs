using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Training.Data;

/// <summary>A synthetic, endless training set: <paramref name="count"/> smooth random videos in [−1, 1] (from a fixed
/// seed) with captions, served in order in batches, cycling. Position = index of the next video. For tests and for
/// timing a training step (`bench --distill`) without a data set.</summary>
public sealed class SyntheticVideoBatches : ITrainingBatches
{
    private readonly Tensor videos;   // [count, 3, T, H, W]
    private readonly string[] captions;
    private readonly int batchSize;
    private long next;

    public SyntheticVideoBatches(int count, int frames, int height, int width, int batchSize = 1, long seed = 11)
    {
        this.batchSize = batchSize;
        using var g = new Generator((ulong)seed, torch.CPU);
        using var scope = torch.NewDisposeScope();
        // low-frequency content, like real video, upsampled from a coarse grid
        var coarse = torch.rand(new long[] { count, 3 * frames, 4, 4 }, generator: g) * 2 - 1;
        videos = torch.nn.functional.interpolate(coarse, new long[] { height, width }, mode: InterpolationMode.Bilinear, align_corners: false)
            .reshape(count, 3, frames, height, width).contiguous().MoveToOuterDisposeScope();
        captions = Enumerable.Range(0, count).Select(i => $"a shape number {i} moving").ToArray();
    }

    public TrainingBatch Next()
    {
        var idx = Enumerable.Range(0, batchSize).Select(i => (next + i) % videos.shape[0]).ToArray();
        next += batchSize;
        using var index = torch.tensor(idx);
        return new TrainingBatch(videos.index_select(0, index), idx.Select(i => captions[i]).ToArray());
    }

    public string Position => next.ToString();
    public void Restore(string position) => next = long.Parse(position);
    public void Dispose() => videos.Dispose();
}
