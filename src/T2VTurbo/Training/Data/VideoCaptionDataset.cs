using T2VTurbo.Video;

namespace T2VTurbo.Training.Data;

/// <summary>One training example: a video file and its caption (spec §4.3: one caption per video).</summary>
public sealed record VideoCaptionItem(string Path, string Caption);

/// <summary>The (video, caption) pairs to distill on, from a folder of videos with same-name .txt captions or from a
/// WebVid-style CSV (spec §6: the reference's webdataset shards are replaced by user-supplied folders/CSVs).
/// Items are in a fixed order (sorted paths / CSV row order) so a seeded shuffle of them is reproducible.
/// Items without a caption are left out here and counted in <see cref="Counters"/>; unreadable videos are found
/// (and counted in the same object) only when a loader decodes them.</summary>
public sealed class VideoCaptionDataset
{
    public IReadOnlyList<VideoCaptionItem> Items { get; }
    public DataSkipCounters Counters { get; }
    /// <summary>The folder or CSV file the items came from.</summary>
    public string Source { get; }

    public VideoCaptionDataset(IReadOnlyList<VideoCaptionItem> items, string source, DataSkipCounters? counters = null)
    {
        Items = items;
        Source = source;
        Counters = counters ?? new DataSkipCounters();
    }

    public int Count => Items.Count;
    public VideoCaptionItem this[int i] => Items[i];

    /// <summary>A folder (searched recursively) or a .csv file.</summary>
    public static VideoCaptionDataset Open(string path, Action<string>? warn = null)
    {
        if (Directory.Exists(path)) return FromFolder(path, warn);
        if (File.Exists(path) && Path.GetExtension(path).Equals(".csv", StringComparison.OrdinalIgnoreCase)) return FromCsv(path, warn);
        throw new ArgumentException(File.Exists(path)
            ? $"training data {path}: expected a folder of videos with .txt captions or a .csv file"
            : $"training data {path}: no such folder or file");
    }

    /// <summary>Every video (mp4/webm/mov/mkv/avi/gif) under <paramref name="folder"/> with a caption in the file of the
    /// same name and the extension .txt (clip.mp4 → clip.txt). Videos without one are skipped with a warning.</summary>
    public static VideoCaptionDataset FromFolder(string folder, Action<string>? warn = null)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"video folder not found: {folder}");
        var counters = new DataSkipCounters();
        var items = new List<VideoCaptionItem>();
        var videos = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => VideoReader.VideoExtensions.Contains(Path.GetExtension(f)))
            .OrderBy(f => f, StringComparer.Ordinal);
        foreach (var video in videos)
        {
            string txt = Path.ChangeExtension(video, ".txt");
            string caption = File.Exists(txt) ? File.ReadAllText(txt).Trim() : "";
            if (caption.Length == 0)
            {
                counters.Count(SkipReason.NoCaption);
                warn?.Invoke($"skipping {video}: {(File.Exists(txt) ? "empty caption file" : "no caption file " + Path.GetFileName(txt))}");
                continue;
            }
            items.Add(new VideoCaptionItem(video, caption));
        }
        return new VideoCaptionDataset(items, folder, counters);
    }

    private static readonly string[] PathColumns = { "path", "relpath", "video", "video_path", "videoid", "file", "filename" };
    private static readonly string[] CaptionColumns = { "caption", "text", "name", "txt", "prompt" };

    /// <summary>Rows of a CSV with a header. The video column is the first of path, relpath, video, video_path, videoid,
    /// file, filename; the caption column the first of caption, text, name, txt, prompt (header names compared
    /// case-insensitively; WebVid's own CSV is videoid,…,page_dir,name). Relative paths are relative to the CSV's folder.
    /// A value without an extension (a WebVid videoid) is looked up as &lt;id&gt;.mp4 (or another video extension),
    /// also under the row's page_dir folder when the CSV has one. Rows with an empty caption are skipped.</summary>
    public static VideoCaptionDataset FromCsv(string csvPath, Action<string>? warn = null)
    {
        if (!File.Exists(csvPath)) throw new FileNotFoundException($"caption CSV not found: {csvPath}", csvPath);
        string root = Path.GetDirectoryName(Path.GetFullPath(csvPath))!;
        using var rows = CsvRows.Read(csvPath).GetEnumerator();
        if (!rows.MoveNext()) throw new InvalidDataException($"{csvPath}: empty CSV (a header row is needed)");
        var header = rows.Current.Select(h => h.Trim()).ToArray();
        int pathCol = FindColumn(header, PathColumns), captionCol = FindColumn(header, CaptionColumns);
        int pageDirCol = FindColumn(header, new[] { "page_dir" });
        if (pathCol < 0 || captionCol < 0)
            throw new InvalidDataException($"{csvPath}: header [{string.Join(", ", header)}] has no " +
                (pathCol < 0 ? $"video column (one of {string.Join("/", PathColumns)})" : $"caption column (one of {string.Join("/", CaptionColumns)})"));

        var counters = new DataSkipCounters();
        var items = new List<VideoCaptionItem>();
        long row = 1;
        while (rows.MoveNext())
        {
            row++;
            var r = rows.Current;
            string value = Cell(r, pathCol).Trim(), caption = Cell(r, captionCol).Trim();
            if (value.Length == 0)
            {
                counters.Count(SkipReason.Unreadable);
                warn?.Invoke($"skipping {csvPath} row {row}: no video path");
                continue;
            }
            string video = Resolve(root, value, Cell(r, pageDirCol).Trim());
            if (caption.Length == 0)
            {
                counters.Count(SkipReason.NoCaption);
                warn?.Invoke($"skipping {video} ({csvPath} row {row}): empty caption");
                continue;
            }
            items.Add(new VideoCaptionItem(video, caption));
        }
        return new VideoCaptionDataset(items, csvPath, counters);
    }

    private static int FindColumn(string[] header, string[] names)
    {
        foreach (var n in names)
        {
            int i = Array.FindIndex(header, h => h.Equals(n, StringComparison.OrdinalIgnoreCase));
            if (i >= 0) return i;
        }
        return -1;
    }

    private static string Cell(string[] row, int col) => col >= 0 && col < row.Length ? row[col] : "";

    private static string Resolve(string root, string value, string pageDir)
    {
        string full = Path.GetFullPath(value, root);                            // an absolute value stays as it is
        if (Path.GetExtension(value).Length > 0 && VideoReader.VideoExtensions.Contains(Path.GetExtension(value))) return full;
        var folders = pageDir.Length > 0 ? new[] { Path.GetFullPath(pageDir, root), root } : new[] { root };
        foreach (var folder in folders)
            foreach (var ext in VideoReader.VideoExtensions.Order(StringComparer.Ordinal).Prepend(".mp4").Distinct())
            {
                string candidate = Path.Combine(folder, value + ext);
                if (File.Exists(candidate)) return candidate;
            }
        return File.Exists(full) ? full : Path.Combine(folders[0], value + ".mp4");    // missing: reported when decoded
    }
}
