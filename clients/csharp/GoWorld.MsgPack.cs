// GoWorld.MsgPack.cs: the MessagePack subset of the goworld client protocol
// (docs/protocol.md, section 7), encoder and bounded decoder.
//
// Part of the goworld C# client (clients/csharp). C# 7, no dependencies:
// compiles with Unity (.NET Standard 2.1) and with mono's mcs.

using System;
using System.Collections;
using System.Collections.Generic;
using System.Text;

namespace GoWorld
{
    /// <summary>
    /// Thrown when MessagePack bytes are malformed, truncated, nested too
    /// deep, use a kind outside the protocol's subset (extensions, the code
    /// c1, a map key that is not a string), or when a value cannot be
    /// encoded.
    /// </summary>
    public class MsgPackException : Exception
    {
        /// <summary>Creates the exception with a message.</summary>
        public MsgPackException(string message) : base(message) { }
    }

    /// <summary>
    /// Thrown when a decode would go past its budget of values
    /// (<see cref="MsgPack.DefaultMaxValues"/>, or the budget given).
    /// </summary>
    public sealed class MsgPackBudgetException : MsgPackException
    {
        /// <summary>Creates the exception.</summary>
        public MsgPackBudgetException() : base("more values than the budget allows") { }
    }

    /// <summary>
    /// The MessagePack subset of docs/protocol.md section 7.
    ///
    /// Decoded values are: <c>null</c>, <c>bool</c>, <c>long</c> (every
    /// integer; <c>ulong</c> for an unsigned value above long.MaxValue),
    /// <c>double</c> (cb), <c>float</c> (ca), <c>string</c> (str, as UTF-8),
    /// <c>byte[]</c> (bin), <c>List&lt;object&gt;</c> (array) and
    /// <c>Dictionary&lt;string, object&gt;</c> (map, string keys only).
    /// Floats stay floats and integers stay integers, as the server sends
    /// them.
    ///
    /// The decoder never allocates from a length it has not checked against
    /// the bytes that remain (an array or map declaring more elements than
    /// there are bytes left is refused before any allocation; a container
    /// allocates ahead for at most 1024 elements and grows as they are
    /// read, so nested containers that each declare all the bytes left
    /// cost no more than what is read), refuses
    /// nesting deeper than <see cref="MaxDepth"/>, decodes at most a
    /// budget of values (<see cref="DefaultMaxValues"/>: every value,
    /// scalar or container, is an object in memory, tens of bytes for one
    /// byte of input: an empty map is one byte), and throws
    /// <see cref="MsgPackException"/> for anything malformed or over the budget.
    /// </summary>
    public static class MsgPack
    {
        /// <summary>
        /// The deepest nesting of arrays and maps the decoder accepts (a
        /// top-level container is at depth 1). The server stays within 34
        /// (protocol.md 7.2); deeper input is refused as malformed.
        /// </summary>
        public const int MaxDepth = 64;

        /// <summary>
        /// The most values one decode (and the client, one frame) decodes
        /// unless told otherwise: 1,048,576. Every value counts, scalars
        /// and containers alike (an array of three integers is four). A
        /// frame of a megabyte of empty maps would otherwise become a
        /// million dictionaries, a hundred megabytes or more.
        /// </summary>
        public const int DefaultMaxValues = 1 << 20;

        static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, false);

        // ---------------------------------------------------------------
        // Decoder

        /// <summary>
        /// Decodes exactly one value that fills all of <paramref name="data"/>.
        /// </summary>
        public static object Decode(byte[] data)
        {
            if (data == null) throw new ArgumentNullException("data");
            int pos = 0;
            int budget = DefaultMaxValues;
            object v = Decode(data, ref pos, data.Length, ref budget);
            if (pos != data.Length)
                throw new MsgPackException((data.Length - pos) + " trailing bytes after the value");
            return v;
        }

        /// <summary>
        /// Decodes one value from <paramref name="data"/> starting at
        /// <paramref name="pos"/> and ending before <paramref name="end"/>;
        /// on return <paramref name="pos"/> is just after the value.
        /// </summary>
        public static object Decode(byte[] data, ref int pos, int end)
        {
            int budget = DefaultMaxValues;
            return Decode(data, ref pos, end, ref budget);
        }

        /// <summary>
        /// Decodes one value as <see cref="Decode(byte[], ref int, int)"/>
        /// does, within a budget: <paramref name="budget"/> is the number
        /// of values (scalars and containers) that may still be decoded,
        /// and is decreased by those decoded. Past it, throws
        /// <see cref="MsgPackException"/> ("more than N values"), so that
        /// several values of one frame can share one budget.
        /// </summary>
        public static object Decode(byte[] data, ref int pos, int end, ref int budget)
        {
            if (data == null) throw new ArgumentNullException("data");
            if (pos < 0 || end > data.Length || pos > end)
                throw new ArgumentOutOfRangeException("pos");
            var st = new DecodeState { Left = budget };
            try { return DecodeValue(data, ref pos, end, 0, st); }
            finally { budget = st.Left; }
        }

        // DecodeState is what one decode shares across its recursion.
        sealed class DecodeState
        {
            public int Left; // values that may still be decoded
        }

        static void Need(int pos, int end, long n)
        {
            if (n > end - pos)
                throw new MsgPackException("truncated: " + n + " bytes needed, " + (end - pos) + " left");
        }

        static ulong ReadBE(byte[] b, ref int p, int end, int n)
        {
            Need(p, end, n);
            ulong v = 0;
            for (int i = 0; i < n; i++) v = (v << 8) | b[p + i];
            p += n;
            return v;
        }

        static object DecodeValue(byte[] b, ref int p, int end, int depth, DecodeState st)
        {
            Need(p, end, 1);
            // Counted before anything is built: a refused value costs nothing.
            if (st.Left <= 0) throw new MsgPackBudgetException();
            st.Left--;
            byte c = b[p++];
            if (c <= 0x7f) return (long)c;
            if (c >= 0xe0) return (long)(sbyte)c;
            if (c >= 0xa0 && c <= 0xbf) return ReadStr(b, ref p, end, c & 0x1f);
            if (c >= 0x90 && c <= 0x9f) return ReadArray(b, ref p, end, c & 0x0f, depth, st);
            if (c >= 0x80 && c <= 0x8f) return ReadMap(b, ref p, end, c & 0x0f, depth, st);
            switch (c)
            {
                case 0xc0: return null;
                case 0xc2: return false;
                case 0xc3: return true;
                case 0xc4: return ReadBin(b, ref p, end, (long)ReadBE(b, ref p, end, 1));
                case 0xc5: return ReadBin(b, ref p, end, (long)ReadBE(b, ref p, end, 2));
                case 0xc6: return ReadBin(b, ref p, end, (long)ReadBE(b, ref p, end, 4));
                case 0xca: return BitConverter.ToSingle(BitConverter.GetBytes((uint)ReadBE(b, ref p, end, 4)), 0);
                case 0xcb: return BitConverter.Int64BitsToDouble((long)ReadBE(b, ref p, end, 8));
                case 0xcc: return (long)ReadBE(b, ref p, end, 1);
                case 0xcd: return (long)ReadBE(b, ref p, end, 2);
                case 0xce: return (long)ReadBE(b, ref p, end, 4);
                case 0xcf:
                    {
                        ulong u = ReadBE(b, ref p, end, 8);
                        if (u > long.MaxValue) return u;
                        return (long)u;
                    }
                case 0xd0: return (long)(sbyte)ReadBE(b, ref p, end, 1);
                case 0xd1: return (long)(short)ReadBE(b, ref p, end, 2);
                case 0xd2: return (long)(int)ReadBE(b, ref p, end, 4);
                case 0xd3: return (long)ReadBE(b, ref p, end, 8);
                case 0xd9: return ReadStr(b, ref p, end, (long)ReadBE(b, ref p, end, 1));
                case 0xda: return ReadStr(b, ref p, end, (long)ReadBE(b, ref p, end, 2));
                case 0xdb: return ReadStr(b, ref p, end, (long)ReadBE(b, ref p, end, 4));
                case 0xdc: return ReadArray(b, ref p, end, (long)ReadBE(b, ref p, end, 2), depth, st);
                case 0xdd: return ReadArray(b, ref p, end, (long)ReadBE(b, ref p, end, 4), depth, st);
                case 0xde: return ReadMap(b, ref p, end, (long)ReadBE(b, ref p, end, 2), depth, st);
                case 0xdf: return ReadMap(b, ref p, end, (long)ReadBE(b, ref p, end, 4), depth, st);
                case 0xc1: throw new MsgPackException("msgpack code 0xc1 is never used");
                default: throw new MsgPackException("msgpack extension 0x" + c.ToString("x2") + " is not part of the protocol");
            }
        }

        static string ReadStr(byte[] b, ref int p, int end, long n)
        {
            Need(p, end, n);
            string s = Utf8.GetString(b, p, (int)n);
            p += (int)n;
            return s;
        }

        static byte[] ReadBin(byte[] b, ref int p, int end, long n)
        {
            Need(p, end, n);
            byte[] r = new byte[n];
            Buffer.BlockCopy(b, p, r, 0, (int)n);
            p += (int)n;
            return r;
        }

        // The most elements (or entries) allocated ahead for a container;
        // past it, it grows as elements are read. The check against the
        // bytes left bounds one container, but MaxDepth nested containers
        // can each declare all the bytes left: allocated ahead, a 16 MiB
        // frame would cost gigabytes before it is refused.
        const int PreallocMax = 1024;

        static List<object> ReadArray(byte[] b, ref int p, int end, long n, int depth, DecodeState st)
        {
            if (depth + 1 > MaxDepth) throw new MsgPackException("nesting deeper than " + MaxDepth);
            // Every element takes at least one byte.
            if (n > end - p) throw new MsgPackException("array of " + n + " elements in " + (end - p) + " bytes");
            // Capacity for what is read, not what is declared: every level
            // of a nesting may declare all the bytes left (see PreallocMax).
            var list = new List<object>((int)Math.Min(n, PreallocMax));
            for (long i = 0; i < n; i++) list.Add(DecodeValue(b, ref p, end, depth + 1, st));
            return list;
        }

        static Dictionary<string, object> ReadMap(byte[] b, ref int p, int end, long n, int depth, DecodeState st)
        {
            if (depth + 1 > MaxDepth) throw new MsgPackException("nesting deeper than " + MaxDepth);
            // Every entry takes at least two bytes.
            if (n > (end - p) / 2) throw new MsgPackException("map of " + n + " entries in " + (end - p) + " bytes");
            var map = new Dictionary<string, object>((int)Math.Min(n, PreallocMax));
            for (long i = 0; i < n; i++)
            {
                string k = DecodeValue(b, ref p, end, depth + 1, st) as string;
                if (k == null) throw new MsgPackException("map key that is not a string");
                map[k] = DecodeValue(b, ref p, end, depth + 1, st);
            }
            return map;
        }

        // ---------------------------------------------------------------
        // Encoder

        /// <summary>
        /// Encodes a value. Accepted: null, bool, every integer type (sent
        /// in its smallest encoding, as the server does), float (ca),
        /// double (cb), string (str, UTF-8), byte[] (bin), any IList
        /// (array: List&lt;object&gt;, object[], int[] …) and any
        /// IDictionary with string keys (map). Anything else throws
        /// <see cref="MsgPackException"/>.
        /// </summary>
        public static byte[] Encode(object value)
        {
            var w = new MsgPackWriter();
            w.Write(value);
            return w.ToArray();
        }

        internal static UTF8Encoding Utf8Encoding { get { return Utf8; } }
    }

    /// <summary>
    /// A growable buffer that MessagePack values (and protocol fields) are
    /// written to.
    /// </summary>
    public sealed class MsgPackWriter
    {
        byte[] buf = new byte[64];
        int len;

        /// <summary>The number of bytes written so far.</summary>
        public int Length { get { return len; } }

        /// <summary>A copy of the bytes written so far.</summary>
        public byte[] ToArray()
        {
            var r = new byte[len];
            Buffer.BlockCopy(buf, 0, r, 0, len);
            return r;
        }

        internal byte[] Buffer0 { get { return buf; } }

        void Grow(int n)
        {
            if (len + n <= buf.Length) return;
            long want = Math.Max((long)buf.Length * 2, (long)len + n);
            if (want > int.MaxValue) throw new MsgPackException("value too large to encode");
            Array.Resize(ref buf, (int)want);
        }

        /// <summary>Writes one raw byte.</summary>
        public void WriteByte(byte b) { Grow(1); buf[len++] = b; }

        /// <summary>Writes raw bytes.</summary>
        public void WriteBytes(byte[] b, int off, int n)
        {
            Grow(n);
            Buffer.BlockCopy(b, off, buf, len, n);
            len += n;
        }

        void WriteBE(byte code, ulong v, int n)
        {
            Grow(1 + n);
            buf[len++] = code;
            for (int i = n - 1; i >= 0; i--) buf[len++] = (byte)(v >> (8 * i));
        }

        /// <summary>Writes a little-endian u16 (a protocol field, not MessagePack).</summary>
        public void WriteU16LE(int v) { Grow(2); buf[len++] = (byte)v; buf[len++] = (byte)(v >> 8); }

        /// <summary>Writes a little-endian u32 (a protocol field, not MessagePack).</summary>
        public void WriteU32LE(uint v)
        {
            Grow(4);
            for (int i = 0; i < 4; i++) buf[len++] = (byte)(v >> (8 * i));
        }

        /// <summary>Writes a little-endian f32 (a protocol field, not MessagePack).</summary>
        public void WriteF32LE(float f)
        {
            WriteU32LE(BitConverter.ToUInt32(BitConverter.GetBytes(f), 0));
        }

        /// <summary>Writes a signed integer in its smallest encoding.</summary>
        public void WriteInt(long v)
        {
            if (v >= 0) { WriteUInt((ulong)v); return; }
            if (v >= -32) { WriteByte((byte)(sbyte)v); return; }
            if (v >= sbyte.MinValue) { WriteBE(0xd0, (ulong)v, 1); return; }
            if (v >= short.MinValue) { WriteBE(0xd1, (ulong)v, 2); return; }
            if (v >= int.MinValue) { WriteBE(0xd2, (ulong)v, 4); return; }
            WriteBE(0xd3, (ulong)v, 8);
        }

        /// <summary>Writes an unsigned integer in its smallest encoding.</summary>
        public void WriteUInt(ulong v)
        {
            if (v <= 0x7f) { WriteByte((byte)v); return; }
            if (v <= 0xff) { WriteBE(0xcc, v, 1); return; }
            if (v <= 0xffff) { WriteBE(0xcd, v, 2); return; }
            if (v <= 0xffffffff) { WriteBE(0xce, v, 4); return; }
            WriteBE(0xcf, v, 8);
        }

        /// <summary>Writes a MessagePack string (str).</summary>
        public void WriteString(string s)
        {
            byte[] b = MsgPack.Utf8Encoding.GetBytes(s);
            int n = b.Length;
            if (n <= 31) WriteByte((byte)(0xa0 | n));
            else if (n <= 0xff) WriteBE(0xd9, (ulong)n, 1);
            else if (n <= 0xffff) WriteBE(0xda, (ulong)n, 2);
            else WriteBE(0xdb, (ulong)n, 4);
            WriteBytes(b, 0, n);
        }

        /// <summary>Writes MessagePack binary (bin).</summary>
        public void WriteBin(byte[] b)
        {
            int n = b.Length;
            if (n <= 0xff) WriteBE(0xc4, (ulong)n, 1);
            else if (n <= 0xffff) WriteBE(0xc5, (ulong)n, 2);
            else WriteBE(0xc6, (ulong)n, 4);
            WriteBytes(b, 0, n);
        }

        /// <summary>Writes an array header for n elements.</summary>
        public void WriteArrayHeader(int n)
        {
            if (n <= 15) WriteByte((byte)(0x90 | n));
            else if (n <= 0xffff) WriteBE(0xdc, (ulong)n, 2);
            else WriteBE(0xdd, (ulong)n, 4);
        }

        /// <summary>Writes a map header for n entries.</summary>
        public void WriteMapHeader(int n)
        {
            if (n <= 15) WriteByte((byte)(0x80 | n));
            else if (n <= 0xffff) WriteBE(0xde, (ulong)n, 2);
            else WriteBE(0xdf, (ulong)n, 4);
        }

        /// <summary>Writes any value <see cref="MsgPack.Encode"/> accepts.</summary>
        public void Write(object v) { Write(v, 0); }

        void Write(object v, int depth)
        {
            if (depth > MsgPack.MaxDepth)
                throw new MsgPackException("nesting deeper than " + MsgPack.MaxDepth + " (a cycle?)");
            if (v == null) { WriteByte(0xc0); return; }
            if (v is bool) { WriteByte((bool)v ? (byte)0xc3 : (byte)0xc2); return; }
            if (v is string) { WriteString((string)v); return; }
            if (v is byte[]) { WriteBin((byte[])v); return; }
            if (v is long) { WriteInt((long)v); return; }
            if (v is int) { WriteInt((int)v); return; }
            if (v is short) { WriteInt((short)v); return; }
            if (v is sbyte) { WriteInt((sbyte)v); return; }
            if (v is ulong) { WriteUInt((ulong)v); return; }
            if (v is uint) { WriteUInt((uint)v); return; }
            if (v is ushort) { WriteUInt((ushort)v); return; }
            if (v is byte) { WriteUInt((byte)v); return; }
            if (v is double) { WriteBE(0xcb, (ulong)BitConverter.DoubleToInt64Bits((double)v), 8); return; }
            if (v is float) { WriteBE(0xca, BitConverter.ToUInt32(BitConverter.GetBytes((float)v), 0), 4); return; }
            var dict = v as IDictionary;
            if (dict != null)
            {
                WriteMapHeader(dict.Count);
                foreach (DictionaryEntry e in dict)
                {
                    var k = e.Key as string;
                    if (k == null) throw new MsgPackException("map key of type " + e.Key.GetType().Name + ": keys must be strings");
                    WriteString(k);
                    Write(e.Value, depth + 1);
                }
                return;
            }
            var list = v as IList;
            if (list != null)
            {
                WriteArrayHeader(list.Count);
                foreach (object e in list) Write(e, depth + 1);
                return;
            }
            throw new MsgPackException("cannot encode a " + v.GetType().FullName);
        }
    }
}
