// GoWorld.Protocol.cs: frames and message layouts of the goworld client
// protocol, version 1 (docs/protocol.md, sections 2, 4, 5 and 6).
//
// Part of the goworld C# client (clients/csharp). C# 7, no dependencies.

using System;
using System.Collections.Generic;
using System.Text;

namespace GoWorld
{
    /// <summary>
    /// Thrown for a frame from the server that breaks the protocol: a bad
    /// length, a body of the wrong size, a malformed ID, string or
    /// MessagePack value, an unknown message type, or an attribute change
    /// that does not apply to the client's copy.
    /// </summary>
    public class ProtocolException : Exception
    {
        /// <summary>Creates the exception with a message.</summary>
        public ProtocolException(string message) : base(message) { }
    }

    /// <summary>The message types of protocol version 1 (protocol.md section 5).</summary>
    public static class MsgType
    {
        /// <summary>client → gate: keep-alive.</summary>
        public const ushort Heartbeat = 1;
        /// <summary>gate → client: answers a heartbeat, with the gate's settings.</summary>
        public const ushort HeartbeatAck = 2;
        /// <summary>client → gate: call a method on an entity.</summary>
        public const ushort CallEntity = 3;
        /// <summary>client → gate: the player moved.</summary>
        public const ushort SyncPosition = 4;
        /// <summary>client → gate: the first frame, with the protocol version.</summary>
        public const ushort ClientHello = 5;
        /// <summary>client → gate: a call that gets a MsgReply.</summary>
        public const ushort Request = 6;
        /// <summary>both ways: the close frame.</summary>
        public const ushort Bye = 7;
        /// <summary>client → gate: the first frame of a connection that resumes a session (8.1).</summary>
        public const ushort Resume = 8;
        /// <summary>both ways, in a resumable session: session frames received so far (8.1).</summary>
        public const ushort Ack = 9;
        /// <summary>gate → client: an entity enters the view.</summary>
        public const ushort CreateEntity = 10;
        /// <summary>gate → client: an entity leaves the view.</summary>
        public const ushort DestroyEntity = 11;
        /// <summary>gate → client: a method call on the client's copy of an entity.</summary>
        public const ushort CallClient = 12;
        /// <summary>gate → client: one attribute change.</summary>
        public const ushort AttrChange = 13;
        /// <summary>gate → client: the last frame, with a reason.</summary>
        public const ushort Kick = 14;
        /// <summary>gate → client: the player entered (or left) a space.</summary>
        public const ushort EnterSpace = 15;
        /// <summary>gate → client: positions of entities in the view.</summary>
        public const ushort Positions = 16;
        /// <summary>gate → client: the answer to a MsgRequest.</summary>
        public const ushort Reply = 17;
        /// <summary>gate → client: a resumable session's token and settings (8.1).</summary>
        public const ushort Session = 18;
        /// <summary>gate → client: a resume accepted, with the new token (8.1).</summary>
        public const ushort Resumed = 19;

        /// <summary>
        /// Whether frames of this type, from the gate, are session frames:
        /// counted and resent in a resumable session (protocol.md 8.1).
        /// </summary>
        public static bool IsSessionFrame(ushort type)
        {
            return (type >= CreateEntity && type <= AttrChange) || (type >= EnterSpace && type <= Reply);
        }
    }

    /// <summary>A position and heading in a space (protocol.md 2.5).</summary>
    public struct Position
    {
        /// <summary>Ground plane.</summary>
        public float X;
        /// <summary>Height.</summary>
        public float Y;
        /// <summary>Ground plane.</summary>
        public float Z;
        /// <summary>Heading, radians by convention.</summary>
        public float Yaw;

        /// <summary>Creates a position.</summary>
        public Position(float x, float y, float z, float yaw) { X = x; Y = y; Z = z; Yaw = yaw; }

        /// <summary>"(x, y, z) yaw".</summary>
        public override string ToString()
        {
            return "(" + X.ToString("R") + ", " + Y.ToString("R") + ", " + Z.ToString("R") + ") yaw " + Yaw.ToString("R");
        }
    }

    /// <summary>
    /// One frame from the gate, decoded (by <see cref="Protocol.DecodeServerFrame"/>)
    /// but not yet applied to the client's state. Which fields are set
    /// depends on <see cref="Type"/>.
    /// </summary>
    public sealed class ServerFrame
    {
        /// <summary>The message type (<see cref="MsgType"/>).</summary>
        public ushort Type;
        /// <summary>The entity ID (CreateEntity, DestroyEntity, CallClient, AttrChange) or the space ID (EnterSpace); null for the zero ID.</summary>
        public string Id;
        /// <summary>CreateEntity: isPlayer.</summary>
        public bool IsPlayer;
        /// <summary>CreateEntity: the entity type; EnterSpace: the space type.</summary>
        public string TypeName;
        /// <summary>CreateEntity: the attributes.</summary>
        public Dictionary<string, object> Attrs;
        /// <summary>CreateEntity and EnterSpace: whether <see cref="Pos"/> was present.</summary>
        public bool HasPos;
        /// <summary>CreateEntity, EnterSpace: the position.</summary>
        public Position Pos;
        /// <summary>CallClient: the method.</summary>
        public string Method;
        /// <summary>CallClient: the arguments.</summary>
        public List<object> Args;
        /// <summary>AttrChange: the operation (<see cref="AttrOp"/>).</summary>
        public AttrOp Op;
        /// <summary>AttrChange: the path (strings and longs).</summary>
        public List<object> Path;
        /// <summary>AttrChange: the value; Reply: the result (code 0).</summary>
        public object Value;
        /// <summary>Kick: the reason; Reply: the message (code ≠ 0).</summary>
        public string Text;
        /// <summary>Reply: the request ID.</summary>
        public uint RequestId;
        /// <summary>Reply: the code.</summary>
        public int Code;
        /// <summary>Positions: the entity IDs, parallel to <see cref="PositionList"/>.</summary>
        public string[] PositionIds;
        /// <summary>Positions: the positions.</summary>
        public Position[] PositionList;
        /// <summary>HeartbeatAck: the announced interval and timeout in ms (0: not announced).</summary>
        public uint HeartbeatIntervalMs, HeartbeatTimeoutMs;
        /// <summary>Session, Resumed: the resume token (32 bytes).</summary>
        public byte[] Token;
        /// <summary>Session: resume_window and resume_limit.</summary>
        public uint WindowMs, Limit;
        /// <summary>Resumed, Ack: the count of session frames the gate received.</summary>
        public ulong Received;
        /// <summary>The size of the body, for the client's queue accounting.</summary>
        public int BodySize;
        /// <summary>The number of MessagePack values decoded from the body (scalars and containers), for the client's queue accounting.</summary>
        public int Values;
    }

    /// <summary>The attribute change operations of protocol.md 11.2.</summary>
    public enum AttrOp : byte
    {
        /// <summary>Set a key of a map or an index of a list.</summary>
        Set = 1,
        /// <summary>Remove a key from a map.</summary>
        Delete = 2,
        /// <summary>Append to a list.</summary>
        Append = 3,
        /// <summary>Remove a list's last element.</summary>
        Pop = 4,
    }

    /// <summary>
    /// Encoding of the client's frames and decoding of the gate's: the
    /// wire format of protocol version 1, with no state.
    /// </summary>
    public static class Protocol
    {
        /// <summary>The protocol version this client speaks.</summary>
        public const ushort Version = 1;
        /// <summary>The longest method name the gate accepts (rpc.MaxMethodNameLen).</summary>
        public const int MaxMethodNameLen = 256;
        /// <summary>The longest message of an error MsgReply (rpc.MaxReplyMessage).</summary>
        public const int MaxReplyMessage = 512;

        static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, false);

        static readonly HashSet<string> GoKeywords = new HashSet<string>(new[] {
            "break", "case", "chan", "const", "continue", "default", "defer", "else", "fallthrough",
            "for", "func", "go", "goto", "if", "import", "interface", "map", "package", "range",
            "return", "select", "struct", "switch", "type", "var" });

        /// <summary>
        /// Checks a method name as the gate does (protocol.md 6.3): at most
        /// 256 bytes, a Go identifier (a letter or '_', then letters, digits
        /// and '_'; not a Go keyword). Throws ArgumentException otherwise,
        /// since the gate would kick the client.
        /// </summary>
        public static void CheckMethodName(string method)
        {
            if (string.IsNullOrEmpty(method)) throw new ArgumentException("empty method name");
            if (Utf8.GetByteCount(method) > MaxMethodNameLen)
                throw new ArgumentException("method name over " + MaxMethodNameLen + " bytes");
            for (int i = 0; i < method.Length; i++)
            {
                char c = method[i];
                bool ok = c == '_' || char.IsLetter(c) || (i > 0 && char.IsDigit(c));
                if (char.IsSurrogate(c)) ok = true; // letters outside the BMP: let the gate judge
                if (!ok) throw new ArgumentException("method name \"" + Cut(method, 64) + "\" is not a Go identifier");
            }
            if (GoKeywords.Contains(method)) throw new ArgumentException("method name \"" + method + "\" is a Go keyword");
        }

        /// <summary>
        /// Checks an entity ID for sending: 16 characters of A–Z a–z 0–9 - _.
        /// </summary>
        public static void CheckEntityId(string id, string what)
        {
            if (id == null || id.Length != 16) throw new ArgumentException(what + " is not a 16-character entity ID");
            foreach (char c in id)
                if (!IsIdChar(c)) throw new ArgumentException(what + " has a character outside A-Z a-z 0-9 - _");
        }

        static bool IsIdChar(int c)
        {
            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        }

        /// <summary>Cuts s to at most n characters, marking the cut with "…".</summary>
        public static string Cut(string s, int n)
        {
            if (s == null || s.Length <= n) return s;
            int k = n;
            if (char.IsHighSurrogate(s[k - 1])) k--;
            return s.Substring(0, k) + "…";
        }

        // ---------------------------------------------------------------
        // Client frames

        static MsgPackWriter Begin(ushort type)
        {
            var w = new MsgPackWriter();
            w.WriteU32LE(0); // length, patched by End
            w.WriteU16LE(type);
            return w;
        }

        static byte[] End(MsgPackWriter w)
        {
            byte[] f = w.ToArray();
            uint n = (uint)(f.Length - 4);
            f[0] = (byte)n; f[1] = (byte)(n >> 8); f[2] = (byte)(n >> 16); f[3] = (byte)(n >> 24);
            return f;
        }

        static void WriteStr(MsgPackWriter w, string s)
        {
            byte[] b = Utf8.GetBytes(s);
            if (b.Length > 0xffff) throw new ArgumentException("string over 65535 bytes");
            w.WriteU16LE(b.Length);
            w.WriteBytes(b, 0, b.Length);
        }

        static void WriteId(MsgPackWriter w, string id)
        {
            if (id == null) { for (int i = 0; i < 16; i++) w.WriteByte(0); return; }
            for (int i = 0; i < 16; i++) w.WriteByte((byte)id[i]);
        }

        static void WriteArgs(MsgPackWriter w, object[] args)
        {
            if (args == null) args = new object[0];
            w.WriteArrayHeader(args.Length);
            for (int i = 0; i < args.Length; i++)
            {
                // A value the encoder refuses is a bad argument.
                try { w.Write(args[i]); }
                catch (MsgPackException e) { throw new ArgumentException("argument " + (i + 1) + ": " + e.Message, e); }
            }
        }

        /// <summary>The MsgClientHello flag that asks for a resumable session (8.1).</summary>
        public const byte HelloResume = 1;

        /// <summary>MsgClientHello (6.12): the first frame.</summary>
        public static byte[] Hello() { return Hello(0); }

        /// <summary>MsgClientHello with flags (<see cref="HelloResume"/>; 0 sends none).</summary>
        public static byte[] Hello(byte flags)
        {
            var w = Begin(MsgType.ClientHello);
            w.WriteU16LE(Version);
            if (flags != 0) w.WriteByte(flags);
            return End(w);
        }

        /// <summary>MsgResume (6.18): the first frame of a connection that resumes a session.</summary>
        public static byte[] Resume(byte[] token, ulong received)
        {
            if (token == null || token.Length != 32) throw new ArgumentException("a resume token is 32 bytes");
            var w = Begin(MsgType.Resume);
            w.WriteU16LE(Version);
            w.WriteByte(HelloResume);
            w.WriteBytes(token, 0, 32);
            w.WriteU32LE((uint)received);
            w.WriteU32LE((uint)(received >> 32));
            return End(w);
        }

        /// <summary>MsgAck (6.17).</summary>
        public static byte[] Ack(ulong received)
        {
            var w = Begin(MsgType.Ack);
            w.WriteU32LE((uint)received);
            w.WriteU32LE((uint)(received >> 32));
            return End(w);
        }

        /// <summary>MsgHeartbeat (6.1).</summary>
        public static byte[] Heartbeat() { return End(Begin(MsgType.Heartbeat)); }

        /// <summary>MsgBye (6.15).</summary>
        public static byte[] Bye() { return End(Begin(MsgType.Bye)); }

        /// <summary>MsgCallEntity (6.3). Throws ArgumentException for a bad ID, method name or argument.</summary>
        public static byte[] CallEntity(string entityId, string method, object[] args)
        {
            CheckEntityId(entityId, "the entity ID");
            CheckMethodName(method);
            var w = Begin(MsgType.CallEntity);
            WriteId(w, entityId);
            WriteStr(w, method);
            WriteArgs(w, args);
            return End(w);
        }

        /// <summary>MsgRequest (6.13). Throws ArgumentException for a bad ID, method name or argument.</summary>
        public static byte[] Request(string entityId, uint requestId, string method, object[] args)
        {
            CheckEntityId(entityId, "the entity ID");
            CheckMethodName(method);
            var w = Begin(MsgType.Request);
            WriteId(w, entityId);
            w.WriteU32LE(requestId);
            WriteStr(w, method);
            WriteArgs(w, args);
            return End(w);
        }

        /// <summary>MsgSyncPosition (6.9). Every value must be finite.</summary>
        public static byte[] SyncPosition(string entityId, string spaceId, Position p)
        {
            CheckEntityId(entityId, "the entity ID");
            if (spaceId != null) CheckEntityId(spaceId, "the space ID");
            if (!Finite(p.X) || !Finite(p.Y) || !Finite(p.Z) || !Finite(p.Yaw))
                throw new ArgumentException("a position must be finite numbers (no NaN, no infinity)");
            var w = Begin(MsgType.SyncPosition);
            WriteId(w, entityId);
            WriteId(w, spaceId);
            w.WriteF32LE(p.X); w.WriteF32LE(p.Y); w.WriteF32LE(p.Z); w.WriteF32LE(p.Yaw);
            return End(w);
        }

        static bool Finite(float f) { return !float.IsNaN(f) && !float.IsInfinity(f); }

        // ---------------------------------------------------------------
        // Server frames

        struct Body
        {
            public byte[] B;
            public int P, End;

            void Need(int n, string what)
            {
                if (n > End - P) throw new ProtocolException("truncated " + what + ": " + n + " bytes needed, " + (End - P) + " left");
            }

            public byte U8(string what) { Need(1, what); return B[P++]; }
            public int U16(string what) { Need(2, what); int v = B[P] | (B[P + 1] << 8); P += 2; return v; }
            public uint U32(string what)
            {
                Need(4, what);
                uint v = (uint)(B[P] | (B[P + 1] << 8) | (B[P + 2] << 16) | (B[P + 3] << 24));
                P += 4;
                return v;
            }
            public ulong U64(string what) { uint lo = U32(what); return lo | ((ulong)U32(what) << 32); }
            public byte[] Bytes(int n, string what)
            {
                Need(n, what);
                var r = new byte[n];
                Buffer.BlockCopy(B, P, r, 0, n);
                P += n;
                return r;
            }
            public float F32(string what) { return BitConverter.ToSingle(BitConverter.GetBytes(U32(what)), 0); }
            public Position Pos(string what) { return new Position(F32(what), F32(what), F32(what), F32(what)); }

            // Id reads an entity ID: null for the zero ID.
            public string Id(string what)
            {
                Need(16, what);
                bool zero = true, valid = true;
                for (int i = 0; i < 16; i++)
                {
                    byte c = B[P + i];
                    if (c != 0) zero = false;
                    if (!IsIdChar(c)) valid = false;
                }
                string s = null;
                if (!zero)
                {
                    if (!valid) throw new ProtocolException("malformed entity ID in " + what);
                    s = Encoding.ASCII.GetString(B, P, 16);
                }
                P += 16;
                return s;
            }

            public string Str(string what) { return Str(what, 0xffff); }

            public string Str(string what, int max)
            {
                int n = U16(what);
                if (n > max) throw new ProtocolException(what + ": a string of " + n + " bytes, over " + max);
                Need(n, what);
                string s = Utf8.GetString(B, P, n);
                P += n;
                return s;
            }

            public int MaxValues, ValuesLeft; // the frame's budget of decoded values

            public object Value(string what)
            {
                try { return MsgPack.Decode(B, ref P, End, ref ValuesLeft); }
                catch (MsgPackBudgetException)
                {
                    throw new ProtocolException(what + ": more than " + MaxValues + " values in one frame (the client's MaxFrameValues)");
                }
                catch (MsgPackException e) { throw new ProtocolException(what + ": " + e.Message); }
            }

            public void Done(string what)
            {
                if (P != End) throw new ProtocolException(what + ": " + (End - P) + " unexpected bytes at the end");
            }
        }

        /// <summary>
        /// Decodes the body of a frame the gate sent. Throws
        /// <see cref="ProtocolException"/> for a malformed body or a type a
        /// client may not receive; never anything else, whatever the bytes.
        /// </summary>
        public static ServerFrame DecodeServerFrame(ushort type, byte[] body, int offset, int count)
        {
            return DecodeServerFrame(type, body, offset, count, MsgPack.DefaultMaxValues);
        }

        /// <summary>
        /// Decodes the body of a frame as <see cref="DecodeServerFrame(ushort, byte[], int, int)"/>
        /// does, decoding at most <paramref name="maxValues"/> MessagePack
        /// values (scalars and containers, all the frame's values together):
        /// past it, throws <see cref="ProtocolException"/>. The frame's
        /// <see cref="ServerFrame.Values"/> says how many it decoded.
        /// </summary>
        public static ServerFrame DecodeServerFrame(ushort type, byte[] body, int offset, int count, int maxValues)
        {
            if (body == null || offset < 0 || count < 0 || offset + count > body.Length)
                throw new ArgumentOutOfRangeException("count");
            if (maxValues < 1) throw new ArgumentOutOfRangeException("maxValues");
            var b = new Body { B = body, P = offset, End = offset + count, MaxValues = maxValues, ValuesLeft = maxValues };
            var f = new ServerFrame { Type = type, BodySize = count };
            switch (type)
            {
                case MsgType.HeartbeatAck:
                    if (count >= 8) { f.HeartbeatIntervalMs = b.U32("HeartbeatAck"); f.HeartbeatTimeoutMs = b.U32("HeartbeatAck"); }
                    break; // shorter bodies say nothing; later bytes are for later versions
                case MsgType.Bye:
                    break;
                case MsgType.Session:
                    f.Token = b.Bytes(32, "Session");
                    f.WindowMs = b.U32("Session");
                    f.Limit = b.U32("Session");
                    break; // later fields: ignored
                case MsgType.Resumed:
                    f.Token = b.Bytes(32, "Resumed");
                    f.Received = b.U64("Resumed");
                    break; // later fields: ignored
                case MsgType.Ack:
                    f.Received = b.U64("Ack");
                    b.Done("Ack");
                    break;
                case MsgType.CreateEntity:
                    {
                        f.Id = b.Id("CreateEntity");
                        if (f.Id == null) throw new ProtocolException("CreateEntity with the zero entity ID");
                        byte isPlayer = b.U8("CreateEntity");
                        f.IsPlayer = isPlayer != 0;
                        f.TypeName = b.Str("CreateEntity");
                        f.Attrs = b.Value("CreateEntity attrs") as Dictionary<string, object>;
                        if (f.Attrs == null) throw new ProtocolException("CreateEntity attrs are not a map");
                        int left = b.End - b.P;
                        if (left == 16) { f.HasPos = true; f.Pos = b.Pos("CreateEntity"); }
                        else if (left != 0) throw new ProtocolException("CreateEntity: " + left + " bytes after the attrs, want 0 or 16");
                        break;
                    }
                case MsgType.DestroyEntity:
                    f.Id = b.Id("DestroyEntity");
                    b.Done("DestroyEntity");
                    break;
                case MsgType.CallClient:
                    f.Id = b.Id("CallClient");
                    f.Method = b.Str("CallClient");
                    f.Args = b.Value("CallClient args") as List<object>;
                    if (f.Args == null) throw new ProtocolException("CallClient args are not an array");
                    b.Done("CallClient");
                    break;
                case MsgType.AttrChange:
                    {
                        f.Id = b.Id("AttrChange");
                        byte op = b.U8("AttrChange");
                        if (op < 1 || op > 4) throw new ProtocolException("AttrChange with op " + op);
                        f.Op = (AttrOp)op;
                        f.Path = b.Value("AttrChange path") as List<object>;
                        if (f.Path == null || f.Path.Count == 0) throw new ProtocolException("AttrChange path is not a non-empty array");
                        foreach (object s in f.Path)
                            if (!(s is string) && !(s is long && (long)s >= 0))
                                throw new ProtocolException("AttrChange path step that is neither a string nor an index");
                        if (!(f.Path[0] is string)) throw new ProtocolException("AttrChange path does not start with an attribute name");
                        f.Value = b.Value("AttrChange value");
                        b.Done("AttrChange");
                        break;
                    }
                case MsgType.Kick:
                    f.Text = b.Str("Kick");
                    break; // bytes after the reason: ignored
                case MsgType.EnterSpace:
                    f.Id = b.Id("EnterSpace");
                    f.TypeName = b.Str("EnterSpace");
                    f.HasPos = true;
                    f.Pos = b.Pos("EnterSpace");
                    b.Done("EnterSpace");
                    break;
                case MsgType.Positions:
                    {
                        int n = b.U16("Positions");
                        if (n == 0) throw new ProtocolException("Positions with no entries");
                        if (count != 2 + 32 * n) throw new ProtocolException("Positions of " + count + " bytes for " + n + " entries");
                        f.PositionIds = new string[n];
                        f.PositionList = new Position[n];
                        for (int i = 0; i < n; i++)
                        {
                            f.PositionIds[i] = b.Id("Positions");
                            if (f.PositionIds[i] == null) throw new ProtocolException("Positions entry with the zero entity ID");
                            f.PositionList[i] = b.Pos("Positions");
                        }
                        break;
                    }
                case MsgType.Reply:
                    f.RequestId = b.U32("Reply");
                    f.Code = b.U16("Reply");
                    if (f.Code == 0)
                    {
                        if (b.P == b.End) throw new ProtocolException("Reply with code 0 and no result");
                        f.Value = b.Value("Reply result");
                    }
                    else
                    {
                        f.Text = b.Str("Reply message", MaxReplyMessage);
                    }
                    b.Done("Reply");
                    break;
                default:
                    throw new ProtocolException("unexpected message type " + type);
            }
            f.Values = maxValues - b.ValuesLeft;
            return f;
        }
    }
}
