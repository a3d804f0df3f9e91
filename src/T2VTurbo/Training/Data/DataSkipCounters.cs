namespace T2VTurbo.Training.Data;

/// <summary>How many items a data source skipped, by reason; safe to increment from the prefetch thread and to read
/// from the trainer's logging at any time.</summary>
public sealed class DataSkipCounters
{
    private long unreadable, tooShort, noCaption, lowFps;

    /// <summary>Missing, corrupt or undecodable files (and CSV rows without a path).</summary>
    public long SkippedUnreadable => Interlocked.Read(ref unreadable);
    /// <summary>Fewer frames than n_frames · stride (spec §4.3 step 2).</summary>
    public long SkippedTooShort => Interlocked.Read(ref tooShort);
    /// <summary>Videos without a caption file, or with an empty caption.</summary>
    public long SkippedNoCaption => Interlocked.Read(ref noCaption);
    /// <summary>Native fps below the sampling fps (spec §4.3 step 1: the reference drops these).</summary>
    public long SkippedLowFps => Interlocked.Read(ref lowFps);
    public long Total => SkippedUnreadable + SkippedTooShort + SkippedNoCaption + SkippedLowFps;

    public void Count(SkipReason reason)
    {
        switch (reason)
        {
            case SkipReason.Unreadable: Interlocked.Increment(ref unreadable); break;
            case SkipReason.TooShort: Interlocked.Increment(ref tooShort); break;
            case SkipReason.NoCaption: Interlocked.Increment(ref noCaption); break;
            case SkipReason.LowFps: Interlocked.Increment(ref lowFps); break;
            default: throw new ArgumentOutOfRangeException(nameof(reason), reason, "not a skip reason");
        }
    }

    /// <summary>The counters under the names a training log uses.</summary>
    public IReadOnlyDictionary<string, long> ToDictionary() => new Dictionary<string, long>
    {
        ["skipped_unreadable"] = SkippedUnreadable,
        ["skipped_too_short"] = SkippedTooShort,
        ["skipped_no_caption"] = SkippedNoCaption,
        ["skipped_low_fps"] = SkippedLowFps,
    };

    public override string ToString() => string.Join(" ", ToDictionary().Select(kv => $"{kv.Key}={kv.Value}"));
}

/// <summary>Why an item was not used.</summary>
public enum SkipReason { None, Unreadable, TooShort, NoCaption, LowFps }
