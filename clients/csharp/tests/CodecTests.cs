// CodecTests: the C# client's MessagePack codec and frame decoder, run by
// clients/csharp/csharp_test.go (TestCodec).
//
//   mono CodecTests.exe GOLDEN_FILE FUZZ_ITERATIONS
//
// GOLDEN_FILE holds lines "HEX<TAB>DESCRIPTION": values the Go side
// encoded as the server does (rpc.AppendValue), and what each is. Each
// must decode to that description and re-encode to the same bytes. Then
// hostile inputs (huge lengths, deep nesting, truncations, extensions)
// must be refused with MsgPackException, the hex examples of
// docs/protocol.md must encode and decode as the document says, and a
// bounded random fuzz of the codec and of every server frame must throw
// nothing but MsgPackException / ProtocolException. Prints "codec: ok".

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using GoWorld;

static class CodecTests
{
    static int failures;

    static void Fail(string msg)
    {
        failures++;
        Console.WriteLine("FAIL: " + msg);
        if (failures > 20) { Console.WriteLine("too many failures"); Environment.Exit(1); }
    }

    static string Hex(byte[] b) { return Hex(b, 0, b.Length); }

    static string Hex(byte[] b, int off, int n)
    {
        var sb = new StringBuilder(n * 2);
        for (int i = 0; i < n; i++) sb.Append(b[off + i].ToString("x2"));
        return sb.ToString();
    }

    static byte[] Unhex(string s)
    {
        s = s.Replace(" ", "");
        var b = new byte[s.Length / 2];
        for (int i = 0; i < b.Length; i++) b[i] = Convert.ToByte(s.Substring(2 * i, 2), 16);
        return b;
    }

    static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, false);

    // Describe writes a value in the notation csharp_test.go's describe uses.
    public static string Describe(object v)
    {
        if (v == null) return "nil";
        if (v is bool) return (bool)v ? "bool(true)" : "bool(false)";
        if (v is long) return "int(" + ((long)v).ToString() + ")";
        if (v is ulong) return "uint(" + ((ulong)v).ToString() + ")";
        if (v is double) return "f64(" + BitConverter.DoubleToInt64Bits((double)v).ToString("x16") + ")";
        if (v is float) return "f32(" + BitConverter.ToUInt32(BitConverter.GetBytes((float)v), 0).ToString("x8") + ")";
        if (v is string) return "str(" + Hex(Utf8.GetBytes((string)v)) + ")";
        if (v is byte[]) return "bin(" + Hex((byte[])v) + ")";
        var l = v as List<object>;
        if (l != null) return "[" + string.Join(",", l.Select(Describe)) + "]";
        var m = v as Dictionary<string, object>;
        if (m != null)
        {
            var keys = m.Keys.Select(k => new KeyValuePair<string, string>(Hex(Utf8.GetBytes(k)), k))
                .OrderBy(k => k.Key, StringComparer.Ordinal);
            return "{" + string.Join(",", keys.Select(k => k.Key + ":" + Describe(m[k.Value]))) + "}";
        }
        return "unexpected " + v.GetType().FullName;
    }

    // MustRefuse: decoding b throws MsgPackException, quickly.
    static void MustRefuse(string what, byte[] b)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            object v = MsgPack.Decode(b);
            Fail(what + ": decoded " + Cut(Describe(v)) + ", want MsgPackException");
        }
        catch (MsgPackException) { }
        catch (Exception e) { Fail(what + ": " + e.GetType().Name + ": " + e.Message + ", want MsgPackException"); }
        if (sw.ElapsedMilliseconds > 2000) Fail(what + ": took " + sw.ElapsedMilliseconds + " ms");
    }

    static string Cut(string s) { return s.Length > 200 ? s.Substring(0, 200) + "…" : s; }

    static byte[] Repeat(byte[] prefix, int n, byte[] tail)
    {
        var ms = new MemoryStream();
        for (int i = 0; i < n; i++) ms.Write(prefix, 0, prefix.Length);
        ms.Write(tail, 0, tail.Length);
        return ms.ToArray();
    }

    static int Main(string[] args)
    {
        if (args.Length != 2) { Console.WriteLine("usage: CodecTests GOLDEN_FILE FUZZ_ITERATIONS"); return 2; }
        var golden = new List<byte[]>();
        var total = Stopwatch.StartNew();
        int n = 0;
        foreach (string line in File.ReadAllLines(args[0]))
        {
            if (line.Length == 0) continue;
            string[] parts = line.Split('\t');
            byte[] b = Unhex(parts[0]);
            golden.Add(b);
            n++;
            object v;
            try { v = MsgPack.Decode(b); }
            catch (Exception e) { Fail("golden " + Cut(parts[1]) + ": " + e.Message); continue; }
            string got = Describe(v);
            if (got != parts[1]) Fail("golden " + Cut(parts[0]) + ": decoded " + Cut(got) + ", want " + Cut(parts[1]));
            byte[] again = MsgPack.Encode(v);
            if (Hex(again) != parts[0]) Fail("golden " + Cut(parts[1]) + ": re-encoded " + Cut(Hex(again)) + ", want " + Cut(parts[0]));
        }
        Console.WriteLine("golden: " + n + " vectors in " + total.ElapsedMilliseconds + " ms");
        if (n < 50) Fail("only " + n + " golden vectors");

        Hostile(golden);
        Budget(golden);
        DocExamples();
        Encoder();
        Fuzz(golden, int.Parse(args[1]));

        if (failures > 0) { Console.WriteLine(failures + " failures"); return 1; }
        Console.WriteLine("codec: ok");
        return 0;
    }

    static void Hostile(List<byte[]> golden)
    {
        var sw = Stopwatch.StartNew();
        MustRefuse("array32 of 4G elements", Unhex("ddffffffff"));
        MustRefuse("array32 of 4G elements, some bytes", Unhex("ddffffffff01020304"));
        MustRefuse("array16 of 65535 elements in 3 bytes", Unhex("dcffff010203"));
        MustRefuse("map32 of 4G entries", Unhex("dfffffffff"));
        MustRefuse("map of 2 entries in 3 bytes", Unhex("82a16101a1"));
        MustRefuse("str32 of 4 GB", Unhex("dbffffffff61"));
        MustRefuse("str32 of 2^31 bytes", Unhex("db8000000061"));
        MustRefuse("bin32 of 4 GB", Unhex("c6ffffffff00"));
        MustRefuse("bin32 of 2^31 bytes", Unhex("c68000000000"));
        MustRefuse("str8 past the end", Unhex("d905616263"));
        MustRefuse("unused code c1", Unhex("c1"));
        MustRefuse("fixext1", Unhex("d40001"));
        MustRefuse("ext8", Unhex("c7010001"));
        MustRefuse("ext timestamp", Unhex("d6ff00000000"));
        MustRefuse("map with an integer key", Unhex("810102"));
        MustRefuse("map with a nil key", Unhex("81c002"));
        MustRefuse("map with an array key", Unhex("819002"));
        MustRefuse("empty input", new byte[0]);
        MustRefuse("trailing bytes", Unhex("c0c0"));
        MustRefuse("float64 cut short", Unhex("cb400800"));
        MustRefuse("uint64 cut short", Unhex("cfffffff"));
        // Deep nesting: refused at MaxDepth + 1, accepted at MaxDepth,
        // and a million levels cost no stack (refused at 65).
        MustRefuse("arrays 100000 deep", Repeat(new byte[] { 0x91 }, 100000, new byte[] { 0xc0 }));
        MustRefuse("maps 100000 deep", Repeat(Unhex("81a161"), 100000, new byte[] { 0xc0 }));
        MustRefuse("arrays " + (MsgPack.MaxDepth + 1) + " deep", Repeat(new byte[] { 0x91 }, MsgPack.MaxDepth + 1, new byte[] { 0xc0 }));
        MustRefuse("a million array16 headers", Repeat(Unhex("dc0001"), 1000000, new byte[] { 0xc0 }));
        try
        {
            object v = MsgPack.Decode(Repeat(new byte[] { 0x91 }, MsgPack.MaxDepth, new byte[] { 0xc0 }));
            int depth = 0;
            while (v is List<object>) { v = ((List<object>)v)[0]; depth++; }
            if (depth != MsgPack.MaxDepth) Fail("nested arrays: depth " + depth);
        }
        catch (Exception e) { Fail("arrays " + MsgPack.MaxDepth + " deep: " + e.Message); }
        // Containers nested MaxDepth deep, each declaring as many elements
        // (or entries) as there are bytes left: every count passes the
        // check against the bytes that remain, so the decoder must not
        // allocate what is declared, only what it reads (else 64 levels
        // of 8 bytes per declared element: 500 times the input).
        Amplification("array32 headers", 0xdd, 1);
        Amplification("map32 headers", 0xdf, 2);
        // Every truncation of every golden vector (the first 300 bytes of
        // the long ones, then 40 more spread over the rest).
        int cuts = 0;
        foreach (byte[] b in golden)
        {
            string name = Cut(Hex(b, 0, Math.Min(b.Length, 120)));
            int step = Math.Max(997, b.Length / 40);
            for (int k = 0; k < b.Length; k = k < 300 ? k + 1 : k + step)
            {
                // Decoded in place: the bytes after k are not there.
                int pos = 0;
                try
                {
                    MsgPack.Decode(b, ref pos, k);
                    Fail("golden " + name + " cut to " + k + " bytes: decoded");
                }
                catch (MsgPackException) { }
                catch (Exception e) { Fail("golden " + name + " cut to " + k + " bytes: " + e.GetType().Name + ": " + e.Message); }
                cuts++;
            }
        }
        Console.WriteLine("hostile: ok (" + cuts + " truncations) in " + sw.ElapsedMilliseconds + " ms");
    }

    // Amplification decodes MaxDepth nested containers of the given code
    // (array32 or map32), each declaring the most elements the bytes left
    // allow (bytes left / per), over 256 KiB of nils; the decode must be
    // refused having allocated at most 32 bytes per input byte (the
    // innermost array does hold its 256 Ki nils).
    static void Amplification(string what, byte code, int per)
    {
        const int fill = 256 << 10;
        int headers = MsgPack.MaxDepth * 5;
        var b = new byte[headers + fill];
        for (int i = 0; i < MsgPack.MaxDepth; i++)
        {
            int at = i * 5;
            uint n = (uint)((b.Length - at - 5) / per);
            b[at] = code;
            b[at + 1] = (byte)(n >> 24); b[at + 2] = (byte)(n >> 16); b[at + 3] = (byte)(n >> 8); b[at + 4] = (byte)n;
        }
        for (int i = headers; i < b.Length; i++) b[i] = 0xc0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        MustRefuse(what + " " + MsgPack.MaxDepth + " deep, each declaring the rest", b);
        long used = GC.GetAllocatedBytesForCurrentThread() - before;
        if (used > 32L * b.Length) Fail(what + ": " + used + " bytes allocated to refuse " + b.Length + " bytes of input, over 32 per byte");
        else Console.WriteLine(what + ": " + used + " bytes allocated for " + b.Length + " bytes of input");
    }

    // DocExamples: the hex in docs/protocol.md, both ways.
    static void DocExamples()
    {
        Expect("6.12 hello", Hex(Protocol.Hello()), "0400000005000100");
        Expect("4 heartbeat", Hex(Protocol.Heartbeat()), "020000000100");
        Expect("6.15 bye", Hex(Protocol.Bye()), "020000000700");
        Expect("13 Register", Hex(Protocol.CallEntity("AAECAwQFBgcICQoL", "Register", new object[] { "alice", "secret" })),
            "2a000000030041414543417751464267634943516f4c0800526567697374657292a5616c696365a6736563726574");
        Expect("2.5 position", Hex(Protocol.SyncPosition("AAECAwQFBgcICQoL", "DA0ODxAREhMUFRYX", new Position(1, 0, -2.5f, 0.5f))).Substring(76),
            "0000803f000000000000 20c00000003f".Replace(" ", ""));
        Expect("7.1 args", Hex(MsgPack.Encode(new object[] { 3.0, 2.5, 3 })), "93cb4008000000000000cb400400000000000003");
        Expect("7.1 int 250", Hex(MsgPack.Encode(250)), "ccfa");
        Expect("7.1 int -33", Hex(MsgPack.Encode(-33)), "d0df");
        Expect("7.1 int -200", Hex(MsgPack.Encode(-200)), "d1ff38");
        Expect("7.1 float32 3", Hex(MsgPack.Encode(3.0f)), "ca40400000");
        Expect("7.1 -0.0", Hex(MsgPack.Encode(-0.0)), "cb8000000000000000");

        var f = Frame("13 ① boot entity", "1d0000000a0041414543417751464267634943516f4c0107004163636f756e7480");
        if (f != null) Expect("13 ①", f.Id + " " + f.IsPlayer + " " + f.TypeName + " " + f.Attrs.Count + " " + f.HasPos, "AAECAwQFBgcICQoL True Account 0 False");
        f = Frame("6.14 reply 42", "09000000110001000000" + "00002a");
        if (f != null) Expect("6.14 reply 42", f.RequestId + " " + f.Code + " " + Describe(f.Value), "1 0 int(42)");
        f = Frame("6.14 reply refused", "110000001100020000" + "00e9030700726566757365 64".Replace(" ", ""));
        if (f != null) Expect("6.14 reply refused", f.RequestId + " " + f.Code + " " + f.Text, "2 1001 refused");
        f = Frame("6.2 heartbeat ack", "0a000000020088130000 30750000".Replace(" ", ""));
        if (f != null) Expect("6.2", f.HeartbeatIntervalMs + " " + f.HeartbeatTimeoutMs, "5000 30000");
        f = Frame("11.3 change 5", "230000000d0044413 04f447841524568 4d55465259580193a3626167a56974656d7300a3617865".Replace(" ", ""));
        if (f != null) Expect("11.3 change 5", f.Id + " " + f.Op + " " + Describe(f.Path) + " " + Describe(f.Value),
            "DA0ODxAREhMUFRYX Set [str(626167),str(6974656d73),int(0)] str(617865)");

        // The worked example of 11.3, applied in order.
        var root = new Dictionary<string, object>();
        string[] rows = {
            "01 91a3626167 82a4676f6c640aa56974656d7390",
            "01 92a3626167a4676f6c64 ccfa",
            "03 92a3626167a56974656d73 a573776f7264",
            "03 92a3626167a56974656d73 a6736869656c64",
            "01 93a3626167a56974656d7300 a3617865",
            "04 92a3626167a56974656d73 c0",
            "02 92a3626167a4676f6c64 c0",
        };
        foreach (string r in rows)
        {
            string[] p = r.Split(' ');
            var path = (List<object>)MsgPack.Decode(Unhex(p[1]));
            string err = GoWorldClient.ApplyAttr(root, (AttrOp)Convert.ToByte(p[0], 16), path, MsgPack.Decode(Unhex(p[2])));
            if (err != null) Fail("11.3 row " + r + ": " + err);
        }
        Expect("11.3 result", Describe(root), Describe(MsgPack.Decode(Unhex("81a362616781a56974656d7391a3617865"))));
        // A path that does not resolve is reported, not thrown.
        if (GoWorldClient.ApplyAttr(root, AttrOp.Set, new List<object> { "nope", "x" }, 1L) == null) Fail("11.2: a missing key applied");
        if (GoWorldClient.ApplyAttr(root, AttrOp.Set, new List<object> { "bag", "items", 5L }, 1L) == null) Fail("11.2: an index out of range applied");
        if (GoWorldClient.ApplyAttr(root, AttrOp.Append, new List<object> { "bag" }, 1L) == null) Fail("11.2: Append to a map applied");
        Console.WriteLine("doc examples: ok");
    }

    static void Encoder()
    {
        // What the encoder accepts, and what it refuses.
        Expect("int widths", Hex(MsgPack.Encode(new object[] { (byte)200, (sbyte)-5, (short)-300, (ushort)60000, 70000u, -70000, ulong.MaxValue, long.MinValue })),
            "98" + "ccc8" + "fb" + "d1fed4" + "cdea60" + "ce00011170" + "d2fffeee90" + "cfffffffffffffffff" + "d38000000000000000");
        Expect("map", Hex(MsgPack.Encode(new Dictionary<string, object> { { "a", new int[] { 1, 2 } } })), "81a16192" + "0102");
        foreach (object bad in new object[] { new Dictionary<int, int> { { 1, 2 } }, 'c', 1.5m, new object() })
        {
            try { MsgPack.Encode(bad); Fail("encoded a " + bad.GetType().Name); }
            catch (MsgPackException) { }
        }
        var cycle = new List<object>();
        cycle.Add(cycle);
        try { MsgPack.Encode(cycle); Fail("encoded a cycle"); }
        catch (MsgPackException) { }
        // Client frames refuse what the gate would kick for.
        foreach (string m in new[] { "", "Say!", "@takeClient", "1abc", "func", new string('a', 257) })
        {
            try { Protocol.CallEntity("AAECAwQFBgcICQoL", m, null); Fail("sent method name \"" + Cut(m) + "\""); }
            catch (ArgumentException) { }
        }
        try { Protocol.CallEntity("AAECAwQFBgcICQo!", "Hi", null); Fail("sent a malformed ID"); }
        catch (ArgumentException) { }
        try { Protocol.SyncPosition("AAECAwQFBgcICQoL", "AAECAwQFBgcICQoL", new Position(float.NaN, 0, 0, 0)); Fail("sent NaN"); }
        catch (ArgumentException) { }
        // An argument the encoder refuses (a Unity Vector3, a char) is a
        // bad argument: ArgumentException, as Call's documentation says.
        foreach (object bad in new object[] { 'c', new object(), new List<object> { 1, new object() } })
        {
            try { Protocol.Request("AAECAwQFBgcICQoL", 1, "Hi", new object[] { 1, bad }); Fail("sent a " + bad.GetType().Name + " argument"); }
            catch (ArgumentException e) { if (!e.Message.StartsWith("argument 2: ")) Fail("bad argument: " + e.Message); }
            catch (Exception e) { Fail("a " + bad.GetType().Name + " argument: " + e.GetType().Name + ", want ArgumentException"); }
        }
        Protocol.CallEntity("AAECAwQFBgcICQoL", new string('a', 256), null);
        Protocol.CallEntity("AAECAwQFBgcICQoL", "Größe_2", null);
        Console.WriteLine("encoder: ok");
    }

    static void Expect(string what, string got, string want)
    {
        if (got != want) Fail(what + ": got " + Cut(got) + ", want " + Cut(want));
    }

    static ServerFrame Frame(string what, string hex)
    {
        byte[] b = Unhex(hex);
        uint len = BitConverter.ToUInt32(b, 0);
        if (len != b.Length - 4) { Fail(what + ": length " + len + " for " + (b.Length - 4) + " bytes"); return null; }
        try { return Protocol.DecodeServerFrame(BitConverter.ToUInt16(b, 4), b, 6, b.Length - 6); }
        catch (Exception e) { Fail(what + ": " + e.Message); return null; }
    }

    // CountValues is what a decode of v counts against its budget: every
    // value, map keys included.
    static int CountValues(object v)
    {
        int n = 1;
        var l = v as List<object>;
        if (l != null) foreach (object e in l) n += CountValues(e);
        var m = v as Dictionary<string, object>;
        if (m != null) foreach (var kv in m) n += 1 + CountValues(kv.Value);
        return n;
    }

    // Budget: a decode counts every value against its budget, takes
    // exactly what it decoded from it, and refuses one value more than
    // the budget with MsgPackBudgetException; a frame's values share one
    // budget; a megabyte of empty maps is refused by default.
    static void Budget(List<byte[]> golden)
    {
        var sw = Stopwatch.StartNew();
        foreach (byte[] b in golden)
        {
            string name = Cut(Hex(b, 0, Math.Min(b.Length, 120)));
            object v;
            try { v = MsgPack.Decode(b); }
            catch (Exception e) { Fail("budget: golden " + name + ": " + e.Message); continue; }
            int need = CountValues(v);
            int pos = 0, budget = need + 5;
            try
            {
                MsgPack.Decode(b, ref pos, b.Length, ref budget);
                if (budget != 5) Fail("budget: golden " + name + ": " + (need + 5 - budget) + " values taken, want " + need);
            }
            catch (Exception e) { Fail("budget: golden " + name + " within " + need + " values: " + e.Message); }
            pos = 0;
            budget = need - 1;
            try
            {
                MsgPack.Decode(b, ref pos, b.Length, ref budget);
                Fail("budget: golden " + name + " of " + need + " values decoded within " + (need - 1));
            }
            catch (MsgPackBudgetException) { }
            catch (Exception e) { Fail("budget: golden " + name + " within " + (need - 1) + ": " + e.GetType().Name + ": " + e.Message); }
        }
        // A megabyte of empty maps (an array of 1,048,576): over the
        // default budget by the array itself.
        byte[] maps = Repeat(Unhex("dd00100000"), 1, Repeat(new byte[] { 0x80 }, 1 << 20, new byte[0]));
        try { MsgPack.Decode(maps); Fail("budget: a megabyte of empty maps decoded"); }
        catch (MsgPackBudgetException) { }
        catch (Exception e) { Fail("budget: a megabyte of empty maps: " + e.GetType().Name + ": " + e.Message); }
        // One frame, one budget: an AttrChange's path (array + string = 2)
        // and value (1) are 3 values.
        var cw = new List<byte>(Encoding.ASCII.GetBytes("DA0ODxAREhMUFRYX"));
        cw.AddRange(Unhex("01" + "91a161" + "05")); // Set, path ["a"], value 5
        byte[] change = cw.ToArray();
        try
        {
            var f = Protocol.DecodeServerFrame(MsgType.AttrChange, change, 0, change.Length, 3);
            if (f.Values != 3) Fail("budget: AttrChange decoded " + f.Values + " values, want 3");
        }
        catch (Exception e) { Fail("budget: AttrChange within 3 values: " + e.Message); }
        try
        {
            Protocol.DecodeServerFrame(MsgType.AttrChange, change, 0, change.Length, 2);
            Fail("budget: AttrChange of 3 values decoded within 2");
        }
        catch (ProtocolException e) { Expect("budget: AttrChange within 2", e.Message, "AttrChange value: more than 2 values in one frame (the client's MaxFrameValues)"); }
        Console.WriteLine("budget: ok in " + sw.ElapsedMilliseconds + " ms");
    }

    static readonly ushort[] ServerTypes = { 2, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 1, 3, 5, 8, 999 };

    static void Fuzz(List<byte[]> golden, int iterations)
    {
        var rnd = new Random(20261207);
        var sw = Stopwatch.StartNew();
        int decoded = 0, refused = 0, frames = 0, i;
        // Codes the protocol cares about, to reach deep into the decoder.
        byte[] codes = Unhex("c0c2c3cccdcecfd0d1d2d3cacbd9dadbc4c5c6dcdddedf9092819fa0a1bf7fe0ffc1d4c7");
        for (i = 0; i < iterations && sw.ElapsedMilliseconds < 30000; i++)
        {
            byte[] b;
            if (i % 3 == 0 && golden.Count > 0)
            {
                // A golden vector, mutated and maybe cut.
                byte[] g = golden[rnd.Next(golden.Count)];
                int len = Math.Min(g.Length, 1 + rnd.Next(200));
                b = new byte[len];
                Buffer.BlockCopy(g, 0, b, 0, len);
                for (int k = rnd.Next(4); k >= 0; k--) b[rnd.Next(len)] = (byte)rnd.Next(256);
            }
            else
            {
                b = new byte[rnd.Next(48)];
                for (int k = 0; k < b.Length; k++) b[k] = rnd.Next(3) == 0 ? codes[rnd.Next(codes.Length)] : (byte)rnd.Next(256);
            }
            try
            {
                object v = MsgPack.Decode(b);
                decoded++;
                // What decodes re-encodes, and decodes to the same value.
                string d = Describe(v), again = Describe(MsgPack.Decode(MsgPack.Encode(v)));
                if (d != again) Fail("fuzz " + Hex(b) + ": " + d + " re-encoded as " + again);
            }
            catch (MsgPackException) { refused++; }
            catch (Exception e) { Fail("fuzz " + Hex(b) + ": " + e.GetType().Name + ": " + e.Message); }

            // Within a small budget: refused, or decoded with exactly its
            // values taken from the budget.
            int small = 1 + rnd.Next(12), left = small, at = 0;
            try
            {
                object v = MsgPack.Decode(b, ref at, b.Length, ref left);
                if (small - left != CountValues(v)) Fail("fuzz " + Hex(b) + ": " + (small - left) + " values taken for " + CountValues(v));
            }
            catch (MsgPackException) { }
            catch (Exception e) { Fail("fuzz " + Hex(b) + " within " + small + " values: " + e.GetType().Name + ": " + e.Message); }

            // The same bytes (and a frame-like prefix) as the body of every type.
            ushort t = ServerTypes[rnd.Next(ServerTypes.Length)];
            byte[] body = b;
            if (rnd.Next(2) == 0)
            {
                // An ID, sometimes valid, then the bytes.
                body = new byte[16 + 3 + b.Length];
                Encoding.ASCII.GetBytes("DA0ODxAREhMUFRYX").CopyTo(body, 0);
                if (rnd.Next(4) == 0) body[rnd.Next(16)] = (byte)rnd.Next(256);
                body[16] = (byte)rnd.Next(5);
                body[17] = (byte)rnd.Next(4);
                body[18] = 0;
                b.CopyTo(body, 19);
            }
            try
            {
                var f = Protocol.DecodeServerFrame(t, body, 0, body.Length, 1 + rnd.Next(12));
                frames++;
                if (f.Values > 12) Fail("fuzz frame type " + t + " " + Hex(body) + ": " + f.Values + " values, over its budget");
            }
            catch (ProtocolException) { }
            catch (Exception e) { Fail("fuzz frame type " + t + " " + Hex(body) + ": " + e.GetType().Name + ": " + e.Message); }
        }
        Console.WriteLine("fuzz: " + i + " inputs in " + sw.ElapsedMilliseconds + " ms (" + decoded + " decoded, " + refused + " refused, " + frames + " frames accepted)");
        if (i < iterations) Fail("fuzz: only " + i + " of " + iterations + " inputs in 30 s");
        if (decoded == 0 || refused == 0) Fail("fuzz: never decoded or never refused: the inputs are not varied");
    }
}
