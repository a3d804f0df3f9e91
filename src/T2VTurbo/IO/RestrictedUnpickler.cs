using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace T2VTurbo.IO;

/// <summary>A pickle names a global (class or function) that is not on the allow list: the file could run code
/// when opened by Python's <c>torch.load</c>, so it is refused instead of interpreted.</summary>
public sealed class UnsafePickleException(string message) : IOException(message);

/// <summary>Decides what globals, calls, persistent ids and BUILDs mean. The unpickler itself knows only plain
/// containers and scalars; every name and every call goes through this, so nothing outside the allow list runs.</summary>
internal interface IPickleResolver
{
    /// <summary>Returns an inert value standing for <c>module.name</c>, or throws <see cref="UnsafePickleException"/>.</summary>
    object ResolveGlobal(string module, string name);
    /// <summary>REDUCE / NEWOBJ: <paramref name="callable"/> is a value from <see cref="ResolveGlobal"/> (or anything
    /// else the pickle put there, which must be refused).</summary>
    object? Call(object? callable, object?[] args);
    object? PersistentLoad(object? pid);
    /// <summary>BUILD (<c>__setstate__</c>): returns the object that replaces <paramref name="target"/> on the stack.</summary>
    object? Build(object? target, object? state);
}

/// <summary>A Python dict (or OrderedDict): insertion-ordered, keys compared by value for strings and numbers.
/// <see cref="Attributes"/> holds the instance state a BUILD gave it (a state dict's <c>_metadata</c>).</summary>
internal sealed class PickleDict
{
    private readonly List<KeyValuePair<object, object?>> items = [];
    private readonly Dictionary<object, int> index = [];

    public int Count => items.Count;
    public IReadOnlyList<KeyValuePair<object, object?>> Items => items;
    public PickleDict? Attributes { get; set; }

    public void Set(object? key, object? value)
    {
        if (key is null) throw new InvalidDataException("pickle: dict key None is not supported");
        if (index.TryGetValue(key, out int i)) items[i] = new(key, value);
        else { index[key] = items.Count; items.Add(new(key, value)); }
    }

    public bool TryGet(object key, out object? value)
    {
        if (index.TryGetValue(key, out int i)) { value = items[i].Value; return true; }
        value = null;
        return false;
    }
}

/// <summary>A Python set / frozenset (kept as a list; weights files only carry them as metadata).</summary>
internal sealed class PickleSet : List<object?>;

/// <summary>A small pickle virtual machine (protocols 2–5, the opcodes <c>torch.save</c> and the standard pickler
/// emit for data). It builds plain .NET values — string, long, BigInteger, double, bool, null, byte[],
/// List (list), object?[] (tuple), <see cref="PickleDict"/>, <see cref="PickleSet"/> — and hands every global,
/// call and persistent id to an <see cref="IPickleResolver"/>. It never imports or executes anything.
/// Opcode semantics follow CPython's Lib/pickle.py (_Unpickler).</summary>
internal sealed class RestrictedUnpickler
{
    private readonly byte[] data;
    private readonly string what;
    private readonly IPickleResolver resolver;
    private readonly List<object?> stack = [];
    private readonly Stack<int> marks = new();
    private readonly Dictionary<long, object?> memo = [];
    private int pos;

    private RestrictedUnpickler(byte[] data, string what, IPickleResolver resolver)
    {
        this.data = data;
        this.what = what;
        this.resolver = resolver;
    }

    /// <summary>Runs the pickle in <paramref name="data"/> to its STOP and returns the top object.
    /// <paramref name="what"/> names the source in error messages.</summary>
    public static object? Load(byte[] data, string what, IPickleResolver resolver) => new RestrictedUnpickler(data, what, resolver).Run();

    private object? Run()
    {
        while (true)
        {
            if (pos >= data.Length) throw Bad("ends without a STOP opcode (truncated?)");
            int at = pos;
            byte op = data[pos++];
            switch (op)
            {
                case 0x80: // PROTO
                    { int p = ReadByte(); if (p > 5) throw Bad($"uses pickle protocol {p}; at most 5 is supported"); break; }
                case 0x95: ReadInt64(); break;                           // FRAME: length hint only, data is in memory
                case (byte)'.': return stack.Count == 1 ? stack[0] : throw Bad($"STOP with {stack.Count} values on the stack");
                case (byte)'(': marks.Push(stack.Count); break;           // MARK
                case (byte)'0': Pop(); break;                             // POP
                case (byte)'1': PopMark(); break;                         // POP_MARK
                case (byte)'2': Push(Peek()); break;                      // DUP
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break;                             // NEWTRUE
                case 0x89: Push(false); break;                            // NEWFALSE
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;   // BININT
                case (byte)'K': Push((long)ReadByte()); break;            // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                case 0x8a: Push(ReadLong(ReadByte())); break;             // LONG1
                case 0x8b: Push(ReadLong(ReadLength(4))); break;          // LONG4
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;          // BINFLOAT
                case (byte)'X': Push(Encoding.UTF8.GetString(Take(ReadLength(4)))); break;            // BINUNICODE
                case 0x8c: Push(Encoding.UTF8.GetString(Take(ReadByte()))); break;                    // SHORT_BINUNICODE
                case 0x8d: Push(Encoding.UTF8.GetString(Take(ReadLength(8)))); break;                 // BINUNICODE8
                case (byte)'T': Push(Encoding.Latin1.GetString(Take(ReadLength(4)))); break;          // BINSTRING (py2 str)
                case (byte)'U': Push(Encoding.Latin1.GetString(Take(ReadByte()))); break;             // SHORT_BINSTRING
                case (byte)'B': Push(Take(ReadLength(4)).ToArray()); break;                          // BINBYTES
                case (byte)'C': Push(Take(ReadByte()).ToArray()); break;                             // SHORT_BINBYTES
                case 0x8e: case 0x96: Push(Take(ReadLength(8)).ToArray()); break;                    // BINBYTES8, BYTEARRAY8
                case (byte)']': Push(new List<object?>()); break;         // EMPTY_LIST
                case (byte)'l': Push(new List<object?>(PopMark())); break; // LIST
                case (byte)'a': { var v = Pop(); AsList(Peek(), "APPEND").Add(v); break; }
                case (byte)'e': { var items = PopMark(); AsList(Peek(), "APPENDS").AddRange(items); break; }
                case (byte)'}': Push(new PickleDict()); break;            // EMPTY_DICT
                case (byte)'d': Push(DictOf(PopMark())); break;           // DICT
                case (byte)'s': { var v = Pop(); var k = Pop(); AsDict(Peek(), "SETITEM").Set(k, v); break; }
                case (byte)'u': { var kv = PopMark(); var d = AsDict(Peek(), "SETITEMS"); SetPairs(d, kv); break; }
                case (byte)')': Push(Array.Empty<object?>()); break;      // EMPTY_TUPLE
                case (byte)'t': Push(PopMark().ToArray()); break;         // TUPLE
                case 0x85: Push(new[] { Pop() }); break;                  // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); Push(new[] { a, b }); break; }
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new[] { a, b, c }); break; }
                case 0x8f: Push(new PickleSet()); break;                  // EMPTY_SET
                case 0x90: { var items = PopMark(); AsSet(Peek()).AddRange(items); break; }   // ADDITEMS
                case 0x91: { var s = new PickleSet(); s.AddRange(PopMark()); Push(s); break; } // FROZENSET
                case (byte)'q': memo[ReadByte()] = Peek(); break;          // BINPUT
                case (byte)'r': memo[ReadUInt32()] = Peek(); break;        // LONG_BINPUT
                case 0x94: memo[memo.Count] = Peek(); break;               // MEMOIZE
                case (byte)'h': Push(MemoGet(ReadByte())); break;          // BINGET
                case (byte)'j': Push(MemoGet(ReadUInt32())); break;        // LONG_BINGET
                case (byte)'c': { var module = ReadLine(); var name = ReadLine(); Push(resolver.ResolveGlobal(module, name)); break; } // GLOBAL
                case 0x93: // STACK_GLOBAL
                    {
                        var name = Pop() as string ?? throw Bad("STACK_GLOBAL name is not a string");
                        var module = Pop() as string ?? throw Bad("STACK_GLOBAL module is not a string");
                        Push(resolver.ResolveGlobal(module, name));
                        break;
                    }
                case (byte)'Q': Push(resolver.PersistentLoad(Pop())); break; // BINPERSID
                case (byte)'R': { var args = AsTuple(Pop(), "REDUCE"); var f = Pop(); Push(resolver.Call(f, args)); break; }
                case 0x81: { var args = AsTuple(Pop(), "NEWOBJ"); var cls = Pop(); Push(resolver.Call(cls, args)); break; }
                case 0x92: // NEWOBJ_EX: cls, args, kwargs — only keyword-free calls have a meaning here
                    {
                        var kwargs = Pop(); var args = AsTuple(Pop(), "NEWOBJ_EX"); var cls = Pop();
                        if (kwargs is PickleDict { Count: > 0 }) throw Bad("NEWOBJ_EX with keyword arguments is not supported");
                        Push(resolver.Call(cls, args));
                        break;
                    }
                case (byte)'b': { var state = Pop(); var target = Pop(); Push(resolver.Build(target, state)); break; } // BUILD
                case 0x82: case 0x83: case 0x84: // EXT1/2/4 name globals through the copyreg registry
                    throw new UnsafePickleException($"{what}: pickle uses the extension registry (EXT opcode at byte {at}), which is not allowed in a weights file");
                default:
                    throw Bad($"unsupported pickle opcode 0x{op:x2} ('{(op >= 32 && op < 127 ? (char)op : '?')}') at byte {at}; only the data opcodes torch.save writes are supported");
            }
        }
    }

    private InvalidDataException Bad(string message) => new($"{what}: {message}");

    private void Push(object? o) => stack.Add(o);

    private object? Pop()
    {
        if (stack.Count == 0 || (marks.Count > 0 && stack.Count <= marks.Peek())) throw Bad($"stack underflow at byte {pos - 1}");
        var o = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return o;
    }

    private object? Peek() => stack.Count > 0 ? stack[^1] : throw Bad($"stack underflow at byte {pos - 1}");

    private List<object?> PopMark()
    {
        if (marks.Count == 0) throw Bad($"no MARK for the opcode at byte {pos - 1}");
        int m = marks.Pop();
        var items = stack.GetRange(m, stack.Count - m);
        stack.RemoveRange(m, stack.Count - m);
        return items;
    }

    private object? MemoGet(long key) => memo.TryGetValue(key, out var v) ? v : throw Bad($"memo key {key} used before it was stored");

    private ReadOnlySpan<byte> Take(long n)
    {
        if (n < 0 || n > data.Length - pos) throw Bad($"a {n}-byte value runs past the end of the pickle at byte {pos}");
        var s = data.AsSpan(pos, (int)n);
        pos += (int)n;
        return s;
    }

    private int ReadByte() => Take(1)[0];
    private long ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    private long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    /// <summary>An unsigned length of <paramref name="bytes"/> bytes (4 or 8).</summary>
    private long ReadLength(int bytes)
    {
        long n = bytes == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(Take(4)) : ReadInt64();
        if (n < 0 || n > data.Length - pos) throw Bad($"length {n} at byte {pos - bytes} runs past the end of the pickle");
        return n;
    }

    /// <summary>LONG1/LONG4 payload: little-endian two's complement; kept as long when it fits.</summary>
    private object ReadLong(long n)
    {
        var v = new BigInteger(Take(n), isUnsigned: false, isBigEndian: false);
        return v >= long.MinValue && v <= long.MaxValue ? (long)v : v;
    }

    private string ReadLine()
    {
        int end = Array.IndexOf(data, (byte)'\n', pos);
        if (end < 0) throw Bad($"unterminated GLOBAL name at byte {pos}");
        var s = Encoding.ASCII.GetString(data, pos, end - pos);
        pos = end + 1;
        return s;
    }

    private List<object?> AsList(object? o, string op) => o as List<object?> ?? throw Bad($"{op} on a {TypeName(o)}, expected a list");
    private PickleDict AsDict(object? o, string op) => o as PickleDict ?? throw Bad($"{op} on a {TypeName(o)}, expected a dict");
    private PickleSet AsSet(object? o) => o as PickleSet ?? throw Bad($"ADDITEMS on a {TypeName(o)}, expected a set");
    private object?[] AsTuple(object? o, string op) => o as object?[] ?? throw Bad($"{op} arguments are a {TypeName(o)}, expected a tuple");

    private PickleDict DictOf(List<object?> kv)
    {
        var d = new PickleDict();
        SetPairs(d, kv);
        return d;
    }

    private void SetPairs(PickleDict d, List<object?> kv)
    {
        if (kv.Count % 2 != 0) throw Bad("odd number of items for a dict");
        for (int i = 0; i < kv.Count; i += 2) d.Set(kv[i], kv[i + 1]);
    }

    internal static string TypeName(object? o) => o switch
    {
        null => "None",
        string => "str",
        long or BigInteger => "int",
        double => "float",
        bool => "bool",
        byte[] => "bytes",
        PickleSet => "set",
        List<object?> => "list",
        object?[] => "tuple",
        PickleDict => "dict",
        _ => o.ToString() ?? o.GetType().Name,
    };
}
