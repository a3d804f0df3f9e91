using System.Text.Json.Serialization;

namespace T2VTurbo.ShapesBench;

/// <summary>Object colours of ShapesBench. Saturated and far from every <see cref="Backdrop"/>, so an object never
/// vanishes into its background and the analyzer can tell colours apart by direction from the background.</summary>
public enum ShapeColor { Red, Green, Blue, Yellow, Magenta, Cyan }

/// <summary>Shapes. Every shape fills the square box [centre ± size/2] (the triangle's apex touches its top edge, its
/// base the bottom edge; the cross's arms touch all four), so a trajectory's (centre, size) is the box.</summary>
public enum ShapeKind { Circle, Square, Triangle, Cross }

public enum ShapeMotion { Left, Right, Up, Down, Grow, Shrink }

public enum MotionSpeed { Slow, Fast }

/// <summary>Size of a translating object (grow/shrink objects change size, so they have no size class).</summary>
public enum SizeClass { Small, Large }

public enum Backdrop { Black, Gray, White }

public readonly record struct Rgb(byte R, byte G, byte B)
{
    public override string ToString() => $"#{R:x2}{G:x2}{B:x2}";
}

/// <summary>The exact colours drawn. Changing them changes every data set and the analyzer's reference.</summary>
public static class ShapesPalette
{
    public static Rgb Of(ShapeColor c) => c switch
    {
        ShapeColor.Red => new Rgb(220, 40, 40),
        ShapeColor.Green => new Rgb(40, 190, 60),
        ShapeColor.Blue => new Rgb(50, 90, 230),
        ShapeColor.Yellow => new Rgb(235, 215, 40),
        ShapeColor.Magenta => new Rgb(210, 60, 210),
        ShapeColor.Cyan => new Rgb(40, 200, 210),
        _ => throw new ArgumentOutOfRangeException(nameof(c), c, "unknown shape colour"),
    };

    public static Rgb Of(Backdrop b) => b switch
    {
        Backdrop.Black => new Rgb(0, 0, 0),
        Backdrop.Gray => new Rgb(64, 64, 64),
        Backdrop.White => new Rgb(255, 255, 255),
        _ => throw new ArgumentOutOfRangeException(nameof(b), b, "unknown backdrop"),
    };

    public static readonly IReadOnlyList<ShapeColor> Colors = Enum.GetValues<ShapeColor>();
    public static readonly IReadOnlyList<ShapeKind> Shapes = Enum.GetValues<ShapeKind>();
    public static readonly IReadOnlyList<ShapeMotion> Motions = Enum.GetValues<ShapeMotion>();
    public static readonly IReadOnlyList<Backdrop> Backdrops = Enum.GetValues<Backdrop>();
}

/// <summary>Where an object is in one frame: its box centre (pixels, x right, y down, (0,0) the top-left corner of the
/// top-left pixel) and the box side (pixels).</summary>
public readonly record struct FramePose(double X, double Y, double Size);

/// <summary>One drawn object and its ground truth trajectory (one pose per frame).</summary>
public sealed record ShapeObjectSpec(ShapeColor Color, ShapeKind Shape, ShapeMotion Motion, MotionSpeed Speed,
    SizeClass? Size, IReadOnlyList<FramePose> Trajectory)
{
    [JsonIgnore] public ShapeCombo Combo => new(Color, Shape, Motion);
}

/// <summary>One ShapesBench clip: square frames of <paramref name="Size"/> pixels, objects drawn in list order.</summary>
public sealed record ShapesClipSpec(string Name, int Size, int Frames, double Fps, Backdrop Background,
    IReadOnlyList<ShapeObjectSpec> Objects, string Caption);

/// <summary>The (colour, shape, motion) triple that the held-out split is defined on.</summary>
public readonly record struct ShapeCombo(ShapeColor Color, ShapeKind Shape, ShapeMotion Motion)
{
    public override string ToString() => $"{Color.ToString().ToLowerInvariant()} {Shape.ToString().ToLowerInvariant()} {Motion.ToString().ToLowerInvariant()}";
}

public enum ShapesSplit { Train, Heldout, All }

/// <summary>The held-out combinations: never drawn in the train split (neither object); in the heldout split the first
/// object is always one of them (a second object may be any combination of another colour).
/// Each colour appears twice, each shape three times and each motion twice, so every single attribute value is still
/// seen in training — only these pairings are new (compositional generalisation).</summary>
public static class ShapesSplits
{
    public static readonly IReadOnlyList<ShapeCombo> HeldOut = new ShapeCombo[]
    {
        new(ShapeColor.Red, ShapeKind.Triangle, ShapeMotion.Up),
        new(ShapeColor.Green, ShapeKind.Cross, ShapeMotion.Left),
        new(ShapeColor.Blue, ShapeKind.Circle, ShapeMotion.Grow),
        new(ShapeColor.Yellow, ShapeKind.Square, ShapeMotion.Down),
        new(ShapeColor.Magenta, ShapeKind.Triangle, ShapeMotion.Shrink),
        new(ShapeColor.Cyan, ShapeKind.Cross, ShapeMotion.Right),
        new(ShapeColor.Red, ShapeKind.Square, ShapeMotion.Shrink),
        new(ShapeColor.Green, ShapeKind.Circle, ShapeMotion.Down),
        new(ShapeColor.Blue, ShapeKind.Triangle, ShapeMotion.Right),
        new(ShapeColor.Yellow, ShapeKind.Cross, ShapeMotion.Grow),
        new(ShapeColor.Magenta, ShapeKind.Circle, ShapeMotion.Left),
        new(ShapeColor.Cyan, ShapeKind.Square, ShapeMotion.Up),
    };

    private static readonly HashSet<ShapeCombo> HeldOutSet = new(HeldOut);

    public static bool IsHeldOut(ShapeCombo c) => HeldOutSet.Contains(c);

    public static ShapesSplit Parse(string s) => s.Trim().ToLowerInvariant() switch
    {
        "train" => ShapesSplit.Train,
        "heldout" or "held-out" or "test" => ShapesSplit.Heldout,
        "all" => ShapesSplit.All,
        _ => throw new ArgumentException($"unknown split '{s}': use train, heldout or all"),
    };
}
