using System.Text;

namespace T2VTurbo.Training.Data;

/// <summary>Reads RFC 4180 CSV: comma separated, fields optionally in double quotes (which may hold commas, newlines
/// and "" for a quote), LF or CRLF line ends, an optional UTF-8 BOM. Streams rows, so large caption files
/// (WebVid-10M's are ~10 M rows) are never held as text.</summary>
public static class CsvRows
{
    public static IEnumerable<string[]> Read(string path)
    {
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        foreach (var row in Read(reader, path)) yield return row;
    }

    public static IEnumerable<string[]> Read(TextReader reader, string name = "csv")
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        bool inQuotes = false, fieldWasQuoted = false, rowHasContent = false;
        long line = 1, quoteLine = 0;
        int c;
        while ((c = reader.Read()) >= 0)
        {
            char ch = (char)c;
            if (inQuotes)
            {
                if (ch == '"')
                {
                    if (reader.Peek() == '"') { reader.Read(); field.Append('"'); }
                    else inQuotes = false;
                }
                else
                {
                    if (ch == '\n') line++;
                    field.Append(ch);
                }
                continue;
            }
            switch (ch)
            {
                case '"' when field.Length == 0 && !fieldWasQuoted:
                    inQuotes = fieldWasQuoted = rowHasContent = true;
                    quoteLine = line;
                    break;
                case ',':
                    fields.Add(field.ToString()); field.Clear(); fieldWasQuoted = false; rowHasContent = true;
                    break;
                case '\r' when reader.Peek() == '\n':
                    break;                                          // the \n ends the row
                case '\n':
                case '\r':
                    line++;
                    if (rowHasContent || field.Length > 0)
                    {
                        fields.Add(field.ToString());
                        yield return fields.ToArray();
                    }
                    fields.Clear(); field.Clear(); fieldWasQuoted = rowHasContent = false;
                    break;
                default:
                    if (fieldWasQuoted && !char.IsWhiteSpace(ch))
                        throw new InvalidDataException($"{name}:{line}: text after a closing quote ('{ch}'); quotes inside a field must be doubled (\"\")");
                    if (!fieldWasQuoted) field.Append(ch);
                    rowHasContent = true;
                    break;
            }
        }
        if (inQuotes) throw new InvalidDataException($"{name}:{quoteLine}: quoted field is never closed");
        if (rowHasContent || field.Length > 0)
        {
            fields.Add(field.ToString());
            yield return fields.ToArray();
        }
    }
}
