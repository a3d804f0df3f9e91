using System.Text.RegularExpressions;

namespace T2VTurbo.ShapesBench;

/// <summary>What a prompt says about one object; null where it says nothing.</summary>
public sealed record ParsedObject(ShapeColor? Color, ShapeKind? Shape, ShapeMotion? Motion, MotionSpeed? Speed, SizeClass? Size);

/// <summary>What a prompt says: its objects in order of mention, and the background if named.</summary>
public sealed record ParsedPrompt(IReadOnlyList<ParsedObject> Objects, Backdrop? Background);

/// <summary>Captions for ShapesBench clips from several templates and synonyms, and the parser that maps a prompt back
/// to (colour, shape, motion) per object. The parser knows every word the templates use (a test checks the round
/// trip on every template) and also reads free prompts that use those words.</summary>
public static class ShapesCaptions
{
    private static readonly Dictionary<ShapeColor, string[]> ColorWords = new()
    {
        [ShapeColor.Red] = new[] { "red" },
        [ShapeColor.Green] = new[] { "green" },
        [ShapeColor.Blue] = new[] { "blue" },
        [ShapeColor.Yellow] = new[] { "yellow" },
        [ShapeColor.Magenta] = new[] { "magenta", "pink" },
        [ShapeColor.Cyan] = new[] { "cyan", "turquoise" },
    };

    private static readonly Dictionary<ShapeKind, string[]> ShapeWords = new()
    {
        [ShapeKind.Circle] = new[] { "circle", "disc", "ball" },
        [ShapeKind.Square] = new[] { "square", "box", "block" },
        [ShapeKind.Triangle] = new[] { "triangle" },
        [ShapeKind.Cross] = new[] { "cross", "plus sign" },
    };

    /// <summary>(participle, third person) phrases per motion.</summary>
    private static readonly Dictionary<ShapeMotion, (string Ing, string Verb)[]> MotionPhrases = new()
    {
        [ShapeMotion.Left] = new[] { ("moving to the left", "moves to the left"), ("moving left", "moves left"),
            ("drifting leftward", "drifts leftward"), ("sliding to the left", "slides to the left"), ("travelling left", "travels left") },
        [ShapeMotion.Right] = new[] { ("moving to the right", "moves to the right"), ("moving right", "moves right"),
            ("drifting rightward", "drifts rightward"), ("sliding to the right", "slides to the right"), ("travelling right", "travels right") },
        [ShapeMotion.Up] = new[] { ("moving up", "moves up"), ("drifting upward", "drifts upward"), ("rising", "rises"),
            ("floating upwards", "floats upwards") },
        [ShapeMotion.Down] = new[] { ("moving down", "moves down"), ("drifting downward", "drifts downward"), ("falling", "falls"),
            ("sinking downwards", "sinks downwards") },
        [ShapeMotion.Grow] = new[] { ("growing", "grows"), ("growing larger", "grows larger"), ("getting bigger", "gets bigger"),
            ("expanding", "expands") },
        [ShapeMotion.Shrink] = new[] { ("shrinking", "shrinks"), ("getting smaller", "gets smaller"), ("contracting", "contracts") },
    };

    private static readonly Dictionary<MotionSpeed, string[]> SpeedWords = new()
    {
        [MotionSpeed.Slow] = new[] { "slowly", "gently" },
        [MotionSpeed.Fast] = new[] { "quickly", "rapidly" },
    };

    private static readonly Dictionary<SizeClass, string[]> SizeWords = new()
    {
        [SizeClass.Small] = new[] { "small", "little" },
        [SizeClass.Large] = new[] { "large", "big" },
    };

    private static readonly Dictionary<Backdrop, string[]> BackdropWords = new()
    {
        [Backdrop.Black] = new[] { "black" },
        [Backdrop.Gray] = new[] { "gray", "grey", "dark gray" },
        [Backdrop.White] = new[] { "white" },
    };

    private static T Pick<T>(Random rng, IReadOnlyList<T> items) => items[rng.Next(items.Count)];

    /// <summary>A caption for the clip's objects and background, choosing template and synonyms with <paramref name="rng"/>.</summary>
    public static string Caption(Random rng, IReadOnlyList<ShapeObjectSpec> objects, Backdrop background)
    {
        if (objects.Count == 0) throw new ArgumentException("a caption needs at least one object");
        string bg = rng.NextDouble() < 0.5
            ? $" {Pick(rng, new[] { "on", "against", "over" })} a {Pick(rng, BackdropWords[background])} {Pick(rng, new[] { "background", "backdrop" })}"
            : "";
        if (objects.Count == 1)
        {
            var o = objects[0];
            string np = NounPhrase(rng, o), speed = SpeedWord(rng, o);
            var (ing, verb) = Pick(rng, MotionPhrases[o.Motion]);
            return rng.Next(5) switch
            {
                0 => $"a {np} {Pre(speed)}{ing}{bg}",
                1 => $"a {np} {Pre(speed)}{verb}{bg}",
                2 => $"video of a {np} that {verb}{Post(speed)}{bg}",
                3 => $"the {np} {verb}{Post(speed)}{bg}",
                _ => $"a {np} {ing}{Post(speed)}{bg}",
            };
        }
        string joiner = Pick(rng, new[] { " and ", ", while ", "; " });
        var clauses = objects.Select(o =>
        {
            string np = NounPhrase(rng, o), speed = SpeedWord(rng, o);
            var (ing, verb) = Pick(rng, MotionPhrases[o.Motion]);
            // "while"/";" join full sentences; "and" also joins noun phrases ("a red circle moving left and ...")
            return joiner == " and " && rng.Next(2) == 0 ? $"a {np} {Pre(speed)}{ing}" : $"a {np} {Pre(speed)}{verb}";
        }).ToList();
        return string.Join(joiner, clauses) + bg;
    }

    private static string Pre(string w) => w.Length == 0 ? "" : w + " ";
    private static string Post(string w) => w.Length == 0 ? "" : " " + w;

    private static string NounPhrase(Random rng, ShapeObjectSpec o)
    {
        string size = o.Size is SizeClass s && rng.NextDouble() < 0.5 ? Pick(rng, SizeWords[s]) + " " : "";
        return $"{size}{Pick(rng, ColorWords[o.Color])} {Pick(rng, ShapeWords[o.Shape])}";
    }

    private static string SpeedWord(Random rng, ShapeObjectSpec o) => rng.NextDouble() < 0.4 ? Pick(rng, SpeedWords[o.Speed]) : "";

    // ---- parsing ----

    private static readonly Regex ClauseSplit = new(@"\s+and\s+|\s*,\s*while\s+|\s*[;,]\s*|\s+while\s+", RegexOptions.Compiled);

    /// <summary>Reads a prompt: background words (black, gray/grey, white) anywhere name the background; the rest is split
    /// into clauses at "and", "while", commas and semicolons, and each clause that names a colour or a shape is one object.</summary>
    public static ParsedPrompt Parse(string prompt)
    {
        string text = " " + Regex.Replace(prompt.ToLowerInvariant(), @"[^a-z;,]+", " ") + " ";
        Backdrop? background = null;
        foreach (var (b, words) in BackdropWords)
            foreach (var w in words.OrderByDescending(w => w.Length))
                if (text.Contains($" {w} "))
                {
                    background ??= b;
                    text = text.Replace($" {w} ", " ");
                }
        var objects = new List<ParsedObject>();
        foreach (var clause in ClauseSplit.Split(text))
        {
            string c = " " + clause.Trim() + " ";
            var obj = new ParsedObject(Find(c, ColorWords), Find(c, ShapeWords), FindMotion(c), Find(c, SpeedWords), FindSize(c));
            if (obj.Color != null || obj.Shape != null) objects.Add(obj);
            else if (objects.Count > 0 && obj.Motion != null && objects[^1].Motion == null)
                objects[^1] = objects[^1] with { Motion = obj.Motion, Speed = objects[^1].Speed ?? obj.Speed };
        }
        return new ParsedPrompt(objects, background);
    }

    private static T? Find<T>(string clause, Dictionary<T, string[]> words) where T : struct, Enum
    {
        // the earliest mention wins, so "a red circle" reads red even if another colour word comes later
        int best = int.MaxValue;
        T? found = null;
        foreach (var (value, list) in words)
            foreach (var w in list)
            {
                int i = clause.IndexOf($" {w} ", StringComparison.Ordinal);
                if (i < 0) i = clause.IndexOf($" {w}s ", StringComparison.Ordinal);     // plurals: "crosses" is not needed, "circles" is
                if (i >= 0 && i < best) { best = i; found = value; }
            }
        return found;
    }

    private static readonly (string Word, ShapeMotion Motion)[] MotionKeywords =
    {
        ("left", ShapeMotion.Left), ("leftward", ShapeMotion.Left), ("leftwards", ShapeMotion.Left),
        ("right", ShapeMotion.Right), ("rightward", ShapeMotion.Right), ("rightwards", ShapeMotion.Right),
        ("up", ShapeMotion.Up), ("upward", ShapeMotion.Up), ("upwards", ShapeMotion.Up), ("rising", ShapeMotion.Up),
        ("rises", ShapeMotion.Up), ("rise", ShapeMotion.Up), ("ascending", ShapeMotion.Up), ("ascends", ShapeMotion.Up),
        ("down", ShapeMotion.Down), ("downward", ShapeMotion.Down), ("downwards", ShapeMotion.Down), ("falling", ShapeMotion.Down),
        ("falls", ShapeMotion.Down), ("fall", ShapeMotion.Down), ("sinking", ShapeMotion.Down), ("sinks", ShapeMotion.Down),
        ("descending", ShapeMotion.Down), ("descends", ShapeMotion.Down),
        ("grow", ShapeMotion.Grow), ("grows", ShapeMotion.Grow), ("growing", ShapeMotion.Grow), ("bigger", ShapeMotion.Grow),
        ("larger", ShapeMotion.Grow), ("expanding", ShapeMotion.Grow), ("expands", ShapeMotion.Grow), ("expand", ShapeMotion.Grow),
        ("enlarging", ShapeMotion.Grow),
        ("shrink", ShapeMotion.Shrink), ("shrinks", ShapeMotion.Shrink), ("shrinking", ShapeMotion.Shrink), ("smaller", ShapeMotion.Shrink),
        ("contracting", ShapeMotion.Shrink), ("contracts", ShapeMotion.Shrink), ("contract", ShapeMotion.Shrink),
    };

    private static ShapeMotion? FindMotion(string clause)
    {
        int best = int.MaxValue;
        ShapeMotion? found = null;
        foreach (var (w, m) in MotionKeywords)
        {
            int i = clause.IndexOf($" {w} ", StringComparison.Ordinal);
            if (i >= 0 && i < best) { best = i; found = m; }
        }
        return found;
    }

    private static SizeClass? FindSize(string clause)
    {
        foreach (var (value, list) in SizeWords)
            foreach (var w in list.Append(value == SizeClass.Small ? "tiny" : "huge"))
                if (clause.Contains($" {w} ", StringComparison.Ordinal)) return value;
        return null;
    }
}
