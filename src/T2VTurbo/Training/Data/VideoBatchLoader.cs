using T2VTurbo.Video;
using static TorchSharp.torch;

namespace T2VTurbo.Training.Data;

/// <summary>A batch of training clips. The caller owns <see cref="Videos"/> (dispose the batch).</summary>
public sealed class VideoBatch : IDisposable
{
    /// <summary>[B, 3, T, H, W] in [-1, 1].</summary>
    public Tensor Videos { get; }
    public IReadOnlyList<string> Captions { get; }
    public IReadOnlyList<string> Paths { get; }
    /// <summary>First frame of each clip in its video (its stride follows from the video's fps, see <see cref="ClipSampler"/>).</summary>
    public IReadOnlyList<int> StartFrames { get; }
    /// <summary>Where this batch began and where the next one begins (save <see cref="Next"/> to resume after it).</summary>
    public DataPosition Start { get; }
    public DataPosition Next { get; }

    internal VideoBatch(Tensor videos, IReadOnlyList<string> captions, IReadOnlyList<string> paths, IReadOnlyList<int> starts,
        DataPosition start, DataPosition next)
    {
        (Videos, Captions, Paths, StartFrames, Start, Next) = (videos, captions, paths, starts, start, next);
    }

    public void Dispose() => Videos.Dispose();
}

/// <summary>Yields batches of B clips forever, epoch after epoch, each epoch in its own seeded shuffle of the dataset.
/// Everything about item k of epoch e — its place in the order and the random start of its clip — is a function of
/// (seed, e, k), so the stream is the same with or without prefetch and a run resumed from a saved
/// <see cref="DataPosition"/> continues exactly where it stopped. Skipped items (unreadable, too short, too slow) are
/// counted in the dataset's <see cref="VideoCaptionDataset.Counters"/>, reported through <c>warn</c>, and replaced by
/// the next items in the order; a batch may span an epoch boundary. With prefetch, one background thread decodes the
/// next batch while the caller trains on the current one (so skips of that batch are counted, and warned about from
/// that thread, a step early); tensors are only made on the caller's thread.</summary>
public sealed class VideoBatchLoader : IDisposable
{
    private readonly VideoCaptionDataset data;
    private readonly ClipSampler sampler;
    private readonly Action<string>? warn;
    private readonly object orderLock = new();
    private (long Epoch, int[] Order)? cachedOrder;
    private Task<RawBatch>? pending;

    public int BatchSize { get; }
    public long Seed { get; }
    public bool Prefetch { get; }
    /// <summary>Where the next batch starts: the <see cref="VideoBatch.Next"/> of the last batch returned.</summary>
    public DataPosition Position { get; private set; }
    public DataSkipCounters Counters => data.Counters;

    public VideoBatchLoader(VideoCaptionDataset data, ClipSampler sampler, int batchSize, long seed,
        DataPosition? start = null, bool prefetch = false, Action<string>? warn = null)
    {
        if (data.Count == 0) throw new ArgumentException($"no videos with captions in {data.Source} ({data.Counters})");
        if (batchSize < 1) throw new ArgumentException($"batch size must be at least 1, got {batchSize}");
        (this.data, this.sampler, this.warn) = (data, sampler, warn);
        (BatchSize, Seed, Prefetch) = (batchSize, seed, prefetch);
        Position = start ?? DataPosition.Start;
        if (Position.Index > data.Count)
            throw new ArgumentException($"data position {Position} is past the end of an epoch of {data.Count} items; was the dataset changed?");
    }

    public VideoBatch Next()
    {
        var waiting = pending;
        pending = null;                                                                 // a failed prefetch is redone on retry
        var raw = waiting is null ? Produce(Position) : waiting.GetAwaiter().GetResult();
        pending = Prefetch ? Task.Run(() => Produce(raw.Next)) : null;
        Position = raw.Next;
        var videos = ClipSampler.ToTensor(raw.Clips);                                   // [B, 3, T, H, W]
        return new VideoBatch(videos, raw.Items.Select(i => i.Caption).ToArray(), raw.Items.Select(i => i.Path).ToArray(),
            raw.Starts, raw.Start, raw.Next);
    }

    /// <summary>Epoch e's order of dataset indices: a Fisher–Yates shuffle driven by a Random seeded from (seed, e).</summary>
    public int[] EpochOrder(long epoch)
    {
        lock (orderLock)
        {
            if (cachedOrder is { } c && c.Epoch == epoch) return c.Order;
            var order = Enumerable.Range(0, data.Count).ToArray();
            var rng = new Random(DerivedSeed(Seed, epoch, -1));
            for (int i = order.Length - 1; i > 0; i--)
            {
                int j = rng.Next(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            cachedOrder = (epoch, order);
            return order;
        }
    }

    /// <summary>The Random that cuts the clip of the item at <paramref name="at"/>.</summary>
    public static Random ClipRng(long seed, DataPosition at) => new(DerivedSeed(seed, at.Epoch, at.Index));

    private sealed record RawBatch(List<VideoFrames> Clips, List<VideoCaptionItem> Items, List<int> Starts, DataPosition Start, DataPosition Next);

    private RawBatch Produce(DataPosition from)
    {
        var clips = new List<VideoFrames>();
        var items = new List<VideoCaptionItem>();
        var starts = new List<int>();
        var at = from;
        long failuresInARow = 0;
        while (clips.Count < BatchSize)
        {
            if (at.Index >= data.Count) at = new DataPosition(at.Epoch + 1, 0);
            var item = data[EpochOrder(at.Epoch)[at.Index]];
            var outcome = sampler.Sample(item.Path, ClipRng(Seed, at));
            at = at with { Index = at.Index + 1 };
            if (outcome.Ok)
            {
                clips.Add(outcome.Frames!); items.Add(item); starts.Add(outcome.Start);
                failuresInARow = 0;
                continue;
            }
            data.Counters.Count(outcome.Skip);
            warn?.Invoke($"skipping video ({outcome.Skip}): {outcome.Message}");
            // Two epochs' worth of consecutive positions cover every item at least once: none is usable.
            if (++failuresInARow >= 2L * data.Count)
                throw new InvalidOperationException($"no usable video in {data.Source}: all {data.Count} items were skipped ({data.Counters})");
        }
        return new RawBatch(clips, items, starts, from, at);
    }

    public void Dispose()
    {
        try { pending?.Wait(); }
        catch (AggregateException) { /* the batch nobody asked for failed; nothing to report */ }
        pending = null;
    }

    // SplitMix64 finaliser: well-spread seeds for System.Random (whose seeded algorithm .NET keeps stable).
    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    private static int DerivedSeed(long seed, long epoch, long index) =>
        (int)(Mix(Mix(Mix((ulong)seed) ^ (ulong)epoch) ^ (ulong)index) & 0x7FFFFFFF);
}
