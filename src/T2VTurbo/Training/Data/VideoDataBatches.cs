namespace T2VTurbo.Training.Data;

/// <summary>The distillation data stream over a video folder or CSV (spec §4.3): <see cref="VideoBatchLoader"/>
/// behind <see cref="ITrainingBatches"/>. Its position is the loader's (epoch, index), so a resumed run continues with
/// the batch that would have come next; skipped videos are counted and reported in <see cref="Stats"/>.</summary>
public sealed class VideoDataBatches : ITrainingBatches
{
    private readonly VideoCaptionDataset data;
    private readonly ClipSampler sampler;
    private readonly TrainingDataSpec spec;
    private readonly Action<string>? warn;
    private VideoBatchLoader loader;

    public VideoDataBatches(string path, TrainingDataSpec spec, Action<string>? warn = null, bool prefetch = true)
    {
        this.spec = spec;
        this.warn = warn;
        data = VideoCaptionDataset.Open(path, warn);
        sampler = new ClipSampler(new ClipOptions(spec.Frames, spec.Fps, spec.Height, spec.Width), spec.CacheMegabytes * (1L << 20));
        Prefetch = prefetch;
        loader = NewLoader(DataPosition.Start);
    }

    public bool Prefetch { get; }
    public int Count => data.Count;
    public DataSkipCounters Counters => data.Counters;

    private VideoBatchLoader NewLoader(DataPosition start) => new(data, sampler, spec.BatchSize, spec.Seed, start, Prefetch, warn);

    public TrainingBatch Next()
    {
        using var b = loader.Next();
        return new TrainingBatch(b.Videos.alias(), b.Captions.ToArray());
    }

    public string Position => loader.Position.ToString();

    public void Restore(string position)
    {
        loader.Dispose();
        loader = NewLoader(DataPosition.Parse(position));
    }

    public IReadOnlyDictionary<string, long> Stats => data.Counters.ToDictionary();

    public void Dispose() => loader.Dispose();
}
