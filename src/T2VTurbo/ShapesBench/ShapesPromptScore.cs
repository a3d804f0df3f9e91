namespace T2VTurbo.ShapesBench;

/// <summary>How one object of a prompt fared: the observed object it was matched with (null: none left) and whether
/// each attribute the prompt names agrees (null: the prompt does not name it).</summary>
public sealed record ObjectAgreement(ParsedObject Prompt, ObservedObject? Seen, bool? Color, bool? Shape, bool? Motion)
{
    /// <summary>Every attribute the prompt names is seen.</summary>
    public bool All => Seen != null && Color != false && Shape != false && Motion != false;
}

/// <summary>Agreement of a clip with a prompt, per prompt object.</summary>
public sealed record PromptAgreement(ParsedPrompt Prompt, IReadOnlyList<ObjectAgreement> Objects)
{
    public bool All => Objects.Count > 0 && Objects.All(o => o.All);

    /// <summary>Share of the named attributes (colour, shape, motion over all prompt objects) that agree.</summary>
    public double Score
    {
        get
        {
            var checks = Objects.SelectMany(o => new[] { o.Seen == null ? false : o.Color, o.Seen == null ? false : o.Shape, o.Seen == null ? false : o.Motion })
                .Where(b => b != null).ToList();
            return checks.Count == 0 ? 0 : checks.Count(b => b == true) / (double)checks.Count;
        }
    }
}

public static class ShapesPromptScore
{
    public static PromptAgreement Score(ShapesAnalysis seen, string prompt) => Score(seen, ShapesCaptions.Parse(prompt));

    /// <summary>Matches each prompt object with an observed object — the one of its colour if there is one, else the
    /// largest one not yet matched — and compares the attributes the prompt names.</summary>
    public static PromptAgreement Score(ShapesAnalysis seen, ParsedPrompt prompt)
    {
        var free = seen.Objects.ToList();                        // largest first
        var result = new List<ObjectAgreement>();
        // objects named with a colour claim their colour first, so "a red X and a Y" cannot give red's match to Y
        var order = prompt.Objects.Select((o, i) => (o, i)).OrderBy(p => p.o.Color == null ? 1 : 0).ThenBy(p => p.i).ToList();
        var matched = new ObservedObject?[prompt.Objects.Count];
        foreach (var (o, i) in order)
        {
            var m = (o.Color is ShapeColor c ? free.FirstOrDefault(s => s.Color == c) : null) ?? free.FirstOrDefault();
            if (m != null) free.Remove(m);
            matched[i] = m;
        }
        for (int i = 0; i < prompt.Objects.Count; i++)
        {
            var (o, m) = (prompt.Objects[i], matched[i]);
            result.Add(new ObjectAgreement(o, m,
                o.Color == null ? null : m?.Color == o.Color,
                o.Shape == null ? null : m?.Shape == o.Shape,
                o.Motion == null ? null : m?.Motion == o.Motion));
        }
        return new PromptAgreement(prompt, result);
    }
}
