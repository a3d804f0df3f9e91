using T2VTurbo.Video;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.ShapesBench;

/// <summary>One object the analyzer found. <see cref="Trajectory"/> holds the box (centre, side) it fitted per frame,
/// null where the object was not visible; the evidence fields say how sure each decision was.</summary>
public sealed record ObservedObject(ShapeColor Color, ShapeKind Shape, ShapeMotion Motion,
    double PixelShare, IReadOnlyList<FramePose?> Trajectory,
    double DisplacementX, double DisplacementY, double LogSizeChange,
    IReadOnlyDictionary<ShapeKind, double> ShapeErrors);

/// <summary>What the analyzer sees in a clip: the background and the objects, largest first.</summary>
public sealed record ShapesAnalysis(Rgb BackgroundColor, Backdrop Background, IReadOnlyList<ObservedObject> Objects);

/// <summary>The ShapesBench judge: a deterministic pixel analyzer, no learning. Steps (all per clip):
/// 1. background = per-channel median of all pixels;
/// 2. each pixel's difference from it is compared with the direction from the background to each palette colour: the
///    colour with the smallest residual off its line owns the pixel, the projection on the line is its coverage
///    (anti-aliased edges are partial blends of object and background);
/// 3. colours owning enough coverage are objects; per frame an object's coverage map gives its area and centroid;
/// 4. motion = the larger of the centroid trend (left/right/up/down) and the log-size trend (grow/shrink), each
///    measured over the clip and compared with the smallest change ShapesBench draws;
/// 5. shape = the template (the renderer's own coverage at the size implied by the area and the shape's area
///    fraction, ±10%) that best matches the coverage maps in L1 over all frames.</summary>
public static class ShapesAnalyzer
{
    /// <summary>Differences from the background smaller than this (RGB Euclidean, 0–255 scale) are background.</summary>
    public const double ForegroundThreshold = 24;
    /// <summary>A colour is an object if its coverage is at least this share of the largest object's.</summary>
    public const double MinObjectShare = 0.2;
    /// <summary>Smallest average coverage per frame (pixels) of an object.</summary>
    public const double MinObjectPixelsPerFrame = 2;
    /// <summary>Changes over the clip that count as one unit of evidence: translation as a fraction of the frame, and
    /// the natural log of the size ratio; about the smallest each ShapesBench motion draws.</summary>
    public const double UnitTranslation = 0.2, UnitLogSize = 0.4;
    public const int MaxObjects = 3;
    private static readonly double[] SizeScales = { 0.9, 0.95, 1.0, 1.05, 1.1 };

    public static ShapesAnalysis Analyze(string videoPath) => Analyze(VideoReader.ReadAll(videoPath));

    /// <summary>Frames as uint8 RGB [T, H, W, 3].</summary>
    public static ShapesAnalysis Analyze(Tensor frames)
    {
        if (frames.dim() != 4 || frames.shape[3] != 3 || frames.dtype != ScalarType.Byte)
            throw new ArgumentException($"expected uint8 RGB frames [T, H, W, 3], got {frames.dtype} [{string.Join(",", frames.shape)}]");
        var bytes = frames.cpu().contiguous().bytes.ToArray();
        return Analyze(new VideoFrames(bytes, (int)frames.shape[0], (int)frames.shape[1], (int)frames.shape[2]));
    }

    public static ShapesAnalysis Analyze(VideoFrames v)
    {
        if (v.Frames < 2) throw new ArgumentException($"motion needs at least 2 frames, got {v.Frames}");
        if (v.Rgb.Length != v.Frames * v.FrameBytes)
            throw new ArgumentException($"frame data has {v.Rgb.Length} bytes, expected {v.Frames}×{v.Height}×{v.Width}×3");
        var bg = MedianColor(v.Rgb);
        int n = v.Height * v.Width, colors = ShapesPalette.Colors.Count;
        var dirs = ShapesPalette.Colors.Select(c => Sub(ShapesPalette.Of(c), bg)).ToArray();

        // step 2: owner colour of every foreground pixel (−1: background)
        var owner = new sbyte[v.Frames * n];
        var mass = new double[colors];
        for (int i = 0; i < owner.Length; i++)
        {
            owner[i] = -1;
            var d = Diff(v.Rgb, i, bg);
            if (Norm(d) < ForegroundThreshold) continue;
            int best = -1;
            double bestResidual = double.MaxValue, bestAlpha = 0;
            for (int c = 0; c < colors; c++)
            {
                double a = Dot(d, dirs[c]) / Dot(dirs[c], dirs[c]);
                if (a <= 0) continue;
                double r = Norm((d.r - a * dirs[c].r, d.g - a * dirs[c].g, d.b - a * dirs[c].b));
                if (r < bestResidual) { bestResidual = r; best = c; bestAlpha = a; }
            }
            if (best < 0 || bestResidual > 0.5 * Norm(d)) continue;          // off every colour's line by more than ~30°
            owner[i] = (sbyte)best;
            mass[best] += Math.Min(1, bestAlpha);
        }

        // step 3: the objects
        double top = mass.Max();
        var found = Enumerable.Range(0, colors)
            .Where(c => mass[c] > 0 && mass[c] >= MinObjectShare * top && mass[c] >= MinObjectPixelsPerFrame * v.Frames)
            .OrderByDescending(c => mass[c]).Take(MaxObjects).ToList();
        double total = found.Sum(c => mass[c]);
        var objects = found.Select(c => Observe(v, owner, c, dirs[c], bg, mass[c] / total)).Where(o => o != null).Select(o => o!).ToList();
        return new ShapesAnalysis(bg, NearestBackdrop(bg), objects);
    }

    private static ObservedObject? Observe(VideoFrames v, sbyte[] owner, int color, (double r, double g, double b) dir, Rgb bg, double share)
    {
        int n = v.Height * v.Width;
        double dd = Dot(dir, dir);
        var maps = new float[v.Frames][];
        var area = new double[v.Frames];
        var cx = new double[v.Frames];
        var cy = new double[v.Frames];
        for (int t = 0; t < v.Frames; t++)
        {
            var map = maps[t] = new float[n];
            for (int y = 0; y < v.Height; y++)
                for (int x = 0; x < v.Width; x++)
                {
                    int i = y * v.Width + x, gi = t * n + i;
                    if (owner[gi] >= 0 && owner[gi] != color) continue;
                    if (owner[gi] != color && !NextTo(owner, t * n, v.Width, v.Height, x, y, color)) continue;
                    // coverage = projection on the colour's line; the 1-pixel ring around owned pixels catches faint edges
                    float a = (float)Math.Clamp(Dot(Diff(v.Rgb, gi, bg), dir) / dd, 0, 1);
                    map[i] = a;
                    area[t] += a;
                    cx[t] += a * (x + 0.5);
                    cy[t] += a * (y + 0.5);
                }
            if (area[t] > 0) { cx[t] /= area[t]; cy[t] /= area[t]; }
        }
        var visible = Enumerable.Range(0, v.Frames).Where(t => area[t] >= 1).ToArray();
        if (visible.Length < 2) return null;

        // step 4: trends over the clip (least-squares slope × span)
        double span = v.Frames - 1;
        double dx = Slope(visible, t => cx[t]) * span / v.Width;
        double dy = Slope(visible, t => cy[t]) * span / v.Height;
        double dlog = 0.5 * Slope(visible, t => Math.Log(area[t])) * span;     // log of the linear size ratio
        double translation = Math.Max(Math.Abs(dx), Math.Abs(dy)) / UnitTranslation, scale = Math.Abs(dlog) / UnitLogSize;
        ShapeMotion motion = scale > translation ? (dlog > 0 ? ShapeMotion.Grow : ShapeMotion.Shrink)
            : Math.Abs(dx) >= Math.Abs(dy) ? (dx < 0 ? ShapeMotion.Left : ShapeMotion.Right)
            : (dy < 0 ? ShapeMotion.Up : ShapeMotion.Down);

        // step 5: template fit
        var errors = new Dictionary<ShapeKind, double>();
        var poses = new Dictionary<ShapeKind, FramePose?[]>();
        double mass = visible.Sum(t => area[t]);
        foreach (var shape in ShapesPalette.Shapes)
        {
            // the size implied by the area is biased when faint edges are lost or noise adds coverage, so each shape
            // also tries sizes a few percent off and keeps its best
            foreach (double sizeScale in SizeScales)
            {
                double err = 0;
                var fitted = new FramePose?[v.Frames];
                foreach (int t in visible)
                {
                    double d = sizeScale * Math.Sqrt(area[t] / ShapesRenderer.AreaFraction(shape));
                    var pose = new FramePose(cx[t], cy[t] - ShapesRenderer.CentroidOffsetY(shape) * d, d);
                    fitted[t] = pose;
                    var tmpl = ShapesRenderer.Coverage(shape, pose, v.Height, v.Width);
                    var map = maps[t];
                    for (int i = 0; i < n; i++) err += Math.Abs(map[i] - tmpl[i]);
                }
                err /= mass;
                if (!errors.TryGetValue(shape, out var old) || err < old) { errors[shape] = err; poses[shape] = fitted; }
            }
        }
        var best = errors.MinBy(e => e.Value).Key;
        return new ObservedObject(ShapesPalette.Colors[color], best, motion, share, poses[best], dx, dy, dlog, errors);
    }

    private static bool NextTo(sbyte[] owner, int frameOffset, int w, int h, int x, int y, int color)
    {
        for (int yy = Math.Max(0, y - 1); yy <= Math.Min(h - 1, y + 1); yy++)
            for (int xx = Math.Max(0, x - 1); xx <= Math.Min(w - 1, x + 1); xx++)
                if (owner[frameOffset + yy * w + xx] == color) return true;
        return false;
    }

    private static double Slope(int[] ts, Func<int, double> f)
    {
        double mt = ts.Average(), mf = ts.Average(t => f(t)), num = 0, den = 0;
        foreach (int t in ts) { num += (t - mt) * (f(t) - mf); den += (t - mt) * (t - mt); }
        return num / den;
    }

    /// <summary>Per-channel median over every pixel of the clip (exact, by histogram).</summary>
    public static Rgb MedianColor(byte[] rgb)
    {
        var hist = new int[3, 256];
        for (int i = 0; i < rgb.Length; i++) hist[i % 3, rgb[i]]++;
        int half = rgb.Length / 3 / 2;
        var m = new byte[3];
        for (int ch = 0; ch < 3; ch++)
        {
            int acc = 0, k = 0;
            while ((acc += hist[ch, k]) <= half) k++;
            m[ch] = (byte)k;
        }
        return new Rgb(m[0], m[1], m[2]);
    }

    public static Backdrop NearestBackdrop(Rgb c) =>
        ShapesPalette.Backdrops.MinBy(b => Norm(Sub(ShapesPalette.Of(b), c)));

    private static (double r, double g, double b) Diff(byte[] rgb, int pixel, Rgb bg) =>
        (rgb[3 * pixel] - bg.R, rgb[3 * pixel + 1] - bg.G, rgb[3 * pixel + 2] - bg.B);
    private static (double r, double g, double b) Sub(Rgb a, Rgb b) => (a.R - b.R, a.G - b.G, a.B - b.B);
    private static (double r, double g, double b) Sub((double r, double g, double b) a, (double r, double g, double b) b) =>
        (a.r - b.r, a.g - b.g, a.b - b.b);
    private static double Dot((double r, double g, double b) a, (double r, double g, double b) b) => a.r * b.r + a.g * b.g + a.b * b.b;
    private static double Norm((double r, double g, double b) a) => Math.Sqrt(Dot(a, a));
}
