namespace T2VTurbo.ShapesBench;

/// <summary>Chooses clip contents (objects, trajectories, background, caption) from one <see cref="Random"/>. All sizes
/// and distances are fractions of the frame side, so a seed describes the same scene at every resolution.</summary>
public static class ShapesSampler
{
    /// <summary>Box side of a translating object, as a fraction of the frame.</summary>
    public const double SmallSize = 0.22, LargeSize = 0.30;
    /// <summary>Distance a translating object travels over the clip, as a fraction of the frame (±15% jitter).</summary>
    public const double SlowTravel = 0.25, FastTravel = 0.42;
    /// <summary>Box side at the small end of a grow/shrink, and the size ratio between its ends (±10% jitter).</summary>
    public const double GrowMinSize = 0.16, SlowGrowRatio = 1.7, FastGrowRatio = 2.4;
    /// <summary>Smallest gap between the frame edge and an object, as a fraction of the frame.</summary>
    public const double Margin = 0.04;

    public static ShapesClipSpec Clip(Random rng, string name, int size, int frames, double fps, ShapesSplit split,
        double twoObjectFraction, Backdrop? background)
    {
        if (size < 16) throw new ArgumentException($"frame size must be at least 16 pixels, got {size}");
        if (frames < 2) throw new ArgumentException($"a clip needs at least 2 frames to show motion, got {frames}");
        var bg = background ?? ShapesPalette.Backdrops[rng.Next(ShapesPalette.Backdrops.Count)];
        var objects = new List<ShapeObjectSpec> { Object(rng, FirstCombo(rng, split), size, frames) };
        if (rng.NextDouble() < twoObjectFraction)
        {
            for (int attempt = 0; ; attempt++)
            {
                var combo = RandomCombo(rng);
                if (combo.Color == objects[0].Color || (split == ShapesSplit.Train && ShapesSplits.IsHeldOut(combo))) continue;
                var second = Object(rng, combo, size, frames);
                if (!Overlaps(objects[0], second)) { objects.Add(second); break; }
                if (attempt > 200) break;                       // no room found: the clip keeps one object
            }
        }
        return new ShapesClipSpec(name, size, frames, fps, bg, objects, ShapesCaptions.Caption(rng, objects, bg));
    }

    private static ShapeCombo RandomCombo(Random rng) => new(
        ShapesPalette.Colors[rng.Next(ShapesPalette.Colors.Count)],
        ShapesPalette.Shapes[rng.Next(ShapesPalette.Shapes.Count)],
        ShapesPalette.Motions[rng.Next(ShapesPalette.Motions.Count)]);

    private static ShapeCombo FirstCombo(Random rng, ShapesSplit split)
    {
        if (split == ShapesSplit.Heldout) return ShapesSplits.HeldOut[rng.Next(ShapesSplits.HeldOut.Count)];
        while (true)
        {
            var c = RandomCombo(rng);
            if (split == ShapesSplit.All || !ShapesSplits.IsHeldOut(c)) return c;
        }
    }

    private static double Uniform(Random rng, double lo, double hi) => lo + (hi - lo) * rng.NextDouble();

    /// <summary>Poses are rounded to 1e-4 pixel so the JSON ground truth is exactly what was drawn.</summary>
    private static FramePose Pose(double x, double y, double d) => new(Math.Round(x, 4), Math.Round(y, 4), Math.Round(d, 4));

    private static ShapeObjectSpec Object(Random rng, ShapeCombo combo, int s, int frames)
    {
        var speed = rng.Next(2) == 0 ? MotionSpeed.Slow : MotionSpeed.Fast;
        double m = Margin * s;
        var poses = new FramePose[frames];
        if (combo.Motion is ShapeMotion.Grow or ShapeMotion.Shrink)
        {
            double ratio = (speed == MotionSpeed.Slow ? SlowGrowRatio : FastGrowRatio) * Uniform(rng, 0.9, 1.1);
            double dMin = GrowMinSize * s, dMax = dMin * ratio;
            double cx = Uniform(rng, dMax / 2 + m, s - dMax / 2 - m), cy = Uniform(rng, dMax / 2 + m, s - dMax / 2 - m);
            for (int t = 0; t < frames; t++)
            {
                double f = (double)t / (frames - 1);
                if (combo.Motion == ShapeMotion.Shrink) f = 1 - f;
                poses[t] = Pose(cx, cy, dMin * Math.Pow(ratio, f));         // geometric: a constant size ratio per frame
            }
            return new ShapeObjectSpec(combo.Color, combo.Shape, combo.Motion, speed, null, poses);
        }
        var sizeClass = rng.Next(2) == 0 ? SizeClass.Small : SizeClass.Large;
        double d = (sizeClass == SizeClass.Small ? SmallSize : LargeSize) * s;
        double travel = (speed == MotionSpeed.Slow ? SlowTravel : FastTravel) * s * Uniform(rng, 0.85, 1.15);
        var (ux, uy) = combo.Motion switch
        {
            ShapeMotion.Left => (-1, 0), ShapeMotion.Right => (1, 0), ShapeMotion.Up => (0, -1), _ => (0, 1),
        };
        double lo = d / 2 + m, hi = s - d / 2 - m;
        // the start is chosen so the whole path stays inside [lo, hi] on the moving axis
        double x0 = ux == 0 ? Uniform(rng, lo, hi) : ux < 0 ? Uniform(rng, lo + travel, hi) : Uniform(rng, lo, hi - travel);
        double y0 = uy == 0 ? Uniform(rng, lo, hi) : uy < 0 ? Uniform(rng, lo + travel, hi) : Uniform(rng, lo, hi - travel);
        for (int t = 0; t < frames; t++)
        {
            double f = (double)t / (frames - 1);
            poses[t] = Pose(x0 + ux * travel * f, y0 + uy * travel * f, d);
        }
        return new ShapeObjectSpec(combo.Color, combo.Shape, combo.Motion, speed, sizeClass, poses);
    }

    /// <summary>Whether two objects' boxes come within one pixel of each other in any frame.</summary>
    private static bool Overlaps(ShapeObjectSpec a, ShapeObjectSpec b)
    {
        for (int t = 0; t < a.Trajectory.Count; t++)
        {
            var (p, q) = (a.Trajectory[t], b.Trajectory[t]);
            double reach = (p.Size + q.Size) / 2 + 1;
            if (Math.Abs(p.X - q.X) < reach && Math.Abs(p.Y - q.Y) < reach) return true;
        }
        return false;
    }
}
