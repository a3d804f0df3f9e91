using T2VTurbo.Video;

namespace T2VTurbo.ShapesBench;

/// <summary>Draws ShapesBench clips without a drawing library: each pixel's coverage by a shape is the fraction of
/// <c>supersample²</c> evenly spaced sample points inside the exact shape (box-filter anti-aliasing), and the object's
/// colour is blended over what is below it by that coverage. Pure arithmetic, so the same spec gives the same bytes.</summary>
public static class ShapesRenderer
{
    public const int DefaultSupersample = 4;

    /// <summary>Arm width of the cross as a fraction of its box side.</summary>
    public const double CrossArmFraction = 1.0 / 3.0;

    /// <summary>Whether the point (x, y) lies in the shape whose box has centre (cx, cy) and side d.</summary>
    public static bool Contains(ShapeKind shape, double cx, double cy, double d, double x, double y)
    {
        double dx = x - cx, dy = y - cy, h = d / 2;
        switch (shape)
        {
            case ShapeKind.Circle: return dx * dx + dy * dy <= h * h;
            case ShapeKind.Square: return Math.Abs(dx) <= h && Math.Abs(dy) <= h;
            case ShapeKind.Triangle:
                // apex (cx, cy − h), base y = cy + h from cx − h to cx + h: half-width grows by 1/2 per unit of depth
                return dy <= h && dy >= -h && Math.Abs(dx) <= (dy + h) / 2;
            case ShapeKind.Cross:
                double a = d * CrossArmFraction / 2;
                return (Math.Abs(dx) <= a && Math.Abs(dy) <= h) || (Math.Abs(dy) <= a && Math.Abs(dx) <= h);
            default: throw new ArgumentOutOfRangeException(nameof(shape), shape, "unknown shape");
        }
    }

    /// <summary>Exact area of a shape with box side d, as a multiple of d² (circle π/4, square 1, triangle 1/2, cross 5/9).</summary>
    public static double AreaFraction(ShapeKind shape) => shape switch
    {
        ShapeKind.Circle => Math.PI / 4,
        ShapeKind.Square => 1,
        ShapeKind.Triangle => 0.5,
        ShapeKind.Cross => 2 * CrossArmFraction - CrossArmFraction * CrossArmFraction,
        _ => throw new ArgumentOutOfRangeException(nameof(shape), shape, "unknown shape"),
    };

    /// <summary>Vertical offset of the shape's area centroid below its box centre, as a multiple of d (the triangle's
    /// centroid lies d/6 below the box centre; the other shapes are symmetric).</summary>
    public static double CentroidOffsetY(ShapeKind shape) => shape == ShapeKind.Triangle ? 1.0 / 6 : 0;

    /// <summary>Coverage in [0, 1] of each pixel of a height×width frame, row-major [H, W].</summary>
    public static float[] Coverage(ShapeKind shape, FramePose pose, int height, int width, int supersample = DefaultSupersample)
    {
        if (supersample < 1) throw new ArgumentException($"supersample must be ≥ 1, got {supersample}");
        var cov = new float[height * width];
        double h = pose.Size / 2;
        // only pixels that touch the box can be covered
        int x0 = Math.Max(0, (int)Math.Floor(pose.X - h)), x1 = Math.Min(width - 1, (int)Math.Floor(pose.X + h));
        int y0 = Math.Max(0, (int)Math.Floor(pose.Y - h)), y1 = Math.Min(height - 1, (int)Math.Floor(pose.Y + h));
        float inv = 1f / (supersample * supersample);
        for (int py = y0; py <= y1; py++)
            for (int px = x0; px <= x1; px++)
            {
                int inside = 0;
                for (int sy = 0; sy < supersample; sy++)
                {
                    double y = py + (sy + 0.5) / supersample;
                    for (int sx = 0; sx < supersample; sx++)
                        if (Contains(shape, pose.X, pose.Y, pose.Size, px + (sx + 0.5) / supersample, y)) inside++;
                }
                cov[py * width + px] = inside * inv;
            }
        return cov;
    }

    /// <summary>Renders every frame of a clip as 8-bit RGB [T, H, W, 3].</summary>
    public static VideoFrames Render(ShapesClipSpec clip, int supersample = DefaultSupersample)
    {
        int s = clip.Size, n = s * s;
        foreach (var o in clip.Objects)
            if (o.Trajectory.Count != clip.Frames)
                throw new ArgumentException($"clip {clip.Name}: a {o.Combo} object has {o.Trajectory.Count} poses for {clip.Frames} frames");
        var rgb = new byte[clip.Frames * n * 3];
        var bg = ShapesPalette.Of(clip.Background);
        var frame = new float[n * 3];
        for (int t = 0; t < clip.Frames; t++)
        {
            for (int i = 0; i < n; i++) { frame[3 * i] = bg.R; frame[3 * i + 1] = bg.G; frame[3 * i + 2] = bg.B; }
            foreach (var o in clip.Objects)
            {
                var c = ShapesPalette.Of(o.Color);
                var cov = Coverage(o.Shape, o.Trajectory[t], s, s, supersample);
                for (int i = 0; i < n; i++)
                {
                    float a = cov[i];
                    if (a == 0) continue;
                    frame[3 * i] += a * (c.R - frame[3 * i]);
                    frame[3 * i + 1] += a * (c.G - frame[3 * i + 1]);
                    frame[3 * i + 2] += a * (c.B - frame[3 * i + 2]);
                }
            }
            int off = t * n * 3;
            for (int i = 0; i < n * 3; i++) rgb[off + i] = (byte)Math.Clamp(MathF.Round(frame[i]), 0, 255);
        }
        return new VideoFrames(rgb, clip.Frames, s, s);
    }
}
