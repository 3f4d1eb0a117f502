// GoWorld.Client.cs: a client for goworld gates, for Unity and any .NET,
// written from docs/protocol.md (client protocol version 1).
//
// Threading, Unity style: a background thread reads and decodes frames
// into a queue, another sends heartbeats and watches for a silent server,
// a third writes; the game calls Poll() on its main thread, which applies
// the queued frames to the entities and runs every handler there. Calls,
// requests and positions may be sent from the main thread (or any
// thread): they are queued for the writer and never wait for the network.
//
// C# 7, no dependencies: compiles with Unity (.NET Standard 2.1) and with
// mono's mcs. Files: GoWorld.Client.cs, GoWorld.Protocol.cs,
// GoWorld.MsgPack.cs, GoWorld.Kcp.cs.

using System;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Threading;

namespace GoWorld
{
    /// <summary>Settings of a <see cref="GoWorldClient"/>. Zero values take the defaults noted.</summary>
    public sealed class ClientOptions
    {
        /// <summary>How long Connect may take (default 5 s).</summary>
        public TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);
        /// <summary>
        /// Send a heartbeat this often. Zero (the default): as the gate
        /// announces in MsgHeartbeatAck, 5 s until it has (protocol.md 9).
        /// </summary>
        public TimeSpan HeartbeatInterval = TimeSpan.Zero;
        /// <summary>
        /// Take the server as gone after this long with no frame from it.
        /// Zero (the default): min(4 × interval, the gate's heartbeat_timeout),
        /// 20 s with the gate's defaults.
        /// </summary>
        public TimeSpan HeartbeatTimeout = TimeSpan.Zero;
        /// <summary>The largest frame body accepted from the gate (default 16 MiB, protocol.md 10.1).</summary>
        public int MaxBodySize = 16 << 20;
        /// <summary>The largest frame body this client sends (default 64 KiB, the gate's max_client_packet_size).</summary>
        public int MaxSendBodySize = 64 << 10;
        /// <summary>
        /// Bytes of frames queued for the writer thread and not yet handed
        /// to the socket (default 4 MiB). Sending never waits for the
        /// network; a send that takes a non-empty queue past this (the
        /// network stalled, or the game sends faster than it carries)
        /// ends the session with "send queue over N bytes
        /// (MaxSendQueueBytes): the network does not carry what the
        /// client sends", as the gate ends a slow consumer.
        /// </summary>
        public int MaxSendQueueBytes = 4 << 20;
        /// <summary>
        /// The most MessagePack values (scalars and containers together)
        /// decoded from one frame (default 1,048,576,
        /// <see cref="MsgPack.DefaultMaxValues"/>). A frame over it is a
        /// protocol error and ends the connection: every value is an
        /// object in memory, and one byte (an empty map) can cost a
        /// hundred. Raise it only for a game that sends more values than
        /// that in one call or attribute map.
        /// </summary>
        public int MaxFrameValues = MsgPack.DefaultMaxValues;
        /// <summary>
        /// Bytes of decoded frames the reader thread queues for Poll (default
        /// 64 MiB), counting each frame as its body plus
        /// <see cref="GoWorldClient.ValueCost"/> bytes for each value
        /// decoded from it. When Poll falls that far behind, the reader stops
        /// reading until it catches up (the gate then, at worst, closes
        /// the client as a slow consumer); memory stays bounded.
        /// </summary>
        public int MaxQueuedBytes = 64 << 20;
        /// <summary>The timeout of a request that names none (default 10 s).</summary>
        public TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
        /// <summary>How long Close waits for the gate's MsgBye (default 1 s).</summary>
        public TimeSpan CloseTimeout = TimeSpan.FromSeconds(1);
        /// <summary>
        /// Ask for a resumable session (protocol.md 8.1, default off): when
        /// the connection drops, the client dials again (same transport)
        /// and takes the session up where it stopped, nothing lost or
        /// repeated either way, within the gate's resume_window.
        /// </summary>
        public bool Resume;
        /// <summary>
        /// In a resumable session, the most bytes of calls, requests and
        /// positions kept until the gate acknowledges them (default 1 MiB).
        /// Past it the session can no longer be resumed: a drop then ends it.
        /// </summary>
        public int ResumeBufferSize = 1 << 20;
    }

    /// <summary>The client's copy of an entity: the player, or another entity in its view.</summary>
    public sealed class ClientEntity
    {
        /// <summary>The entity ID: 16 characters, opaque.</summary>
        public string Id { get; internal set; }
        /// <summary>The type name, for example "Account".</summary>
        public string Type { get; internal set; }
        /// <summary>Whether this is the client's player.</summary>
        public bool IsPlayer { get; internal set; }
        /// <summary>
        /// The client-visible attributes: a tree of Dictionary&lt;string, object&gt;
        /// and List&lt;object&gt; with MsgPack leaves, kept up to date by Poll.
        /// Read it; do not change it.
        /// </summary>
        public Dictionary<string, object> Attrs { get; internal set; }
        // The position is written by Poll (from the gate) and by
        // SyncPosition (on any thread), and read on any thread: a Position
        // is four floats, which no single write or read covers, so both
        // fields are kept under posLock.
        readonly object posLock = new object();
        Position position;
        bool hasPosition;

        /// <summary>Whether the entity is in a space (and Position means something).</summary>
        public bool HasPosition
        {
            get { lock (posLock) return hasPosition; }
            internal set { lock (posLock) hasPosition = value; }
        }

        /// <summary>
        /// The position and heading, when in a space. Safe to read on any
        /// thread: Poll and SyncPosition set it whole, never torn.
        /// </summary>
        public Position Position
        {
            get { lock (posLock) return position; }
            internal set { lock (posLock) position = value; }
        }

        // SetPosition sets the position and HasPosition together.
        internal void SetPosition(Position p)
        {
            lock (posLock) { position = p; hasPosition = true; }
        }

        /// <summary>"Type(Id)".</summary>
        public override string ToString() { return Type + "(" + Id + ")"; }
    }

    /// <summary>A call from the server (MsgCallClient), as handlers receive it.</summary>
    public sealed class ClientCall
    {
        /// <summary>The entity the call is for: the player for a broadcast; null if none (a broadcast with no player).</summary>
        public ClientEntity Entity;
        /// <summary>The method name.</summary>
        public string Method;
        /// <summary>The arguments, decoded as <see cref="MsgPack"/> says.</summary>
        public List<object> Args;
        /// <summary>Whether it was a broadcast (the zero entity ID, protocol.md 6.5).</summary>
        public bool IsBroadcast;
    }

    /// <summary>The reply codes of protocol.md 6.13.</summary>
    public static class ReplyCode
    {
        /// <summary>The connection ended before the answer (local to this client, never on the wire).</summary>
        public const int Disconnected = -1;
        /// <summary>The method ran; the reply carries its result.</summary>
        public const int Ok = 0;
        /// <summary>No answer in time (this client's own timeout).</summary>
        public const int Timeout = 1;
        /// <summary>The entity does not exist.</summary>
        public const int NoSuchEntity = 2;
        /// <summary>No such method, not exposed, or not this client's.</summary>
        public const int NoSuchMethod = 3;
        /// <summary>The arguments do not convert.</summary>
        public const int BadArguments = 4;
        /// <summary>The method panicked.</summary>
        public const int CalleePanicked = 5;
        /// <summary>Too many requests waiting, or the gate has no link to the server.</summary>
        public const int Overloaded = 6;
        /// <summary>The method returned an error without a code.</summary>
        public const int Failed = 7;
        /// <summary>Codes from here up are the game's own.</summary>
        public const int User = 1000;
    }

    /// <summary>The answer to a request.</summary>
    public sealed class Reply
    {
        /// <summary>The request's ID.</summary>
        public uint RequestId;
        /// <summary>0 on success, else why it failed (<see cref="ReplyCode"/>).</summary>
        public int Code;
        /// <summary>The method's result (code 0).</summary>
        public object Result;
        /// <summary>What went wrong (code ≠ 0).</summary>
        public string Message;
        /// <summary>Whether Code is 0.</summary>
        public bool Ok { get { return Code == ReplyCode.Ok; } }
    }

    /// <summary>An attribute change, as handlers of AttrChanged receive it.</summary>
    public sealed class AttrChange
    {
        /// <summary>The entity (null if the client does not hold it: the change was not applied).</summary>
        public ClientEntity Entity;
        /// <summary>The entity's ID.</summary>
        public string EntityId;
        /// <summary>The operation.</summary>
        public AttrOp Op;
        /// <summary>The path: strings (map keys) and longs (list indexes), from the attribute map.</summary>
        public List<object> Path;
        /// <summary>The value (Set, Append); null for Delete and Pop.</summary>
        public object Value;
    }

    // A byte stream that carries frames: TCP, KCP (GoWorld.Kcp.cs) or WebSocket.
    interface ITransport
    {
        int Read(byte[] buf, int off, int n);   // 0 at end of stream
        void Write(byte[] buf, int off, int n);
        void Close();                           // idempotent, from any thread
    }

    sealed class TcpTransport : ITransport
    {
        readonly TcpClient tcp;
        readonly NetworkStream stream;
        int closed;

        // The connect gives up after timeout, or at once when cancel is
        // cancelled (Close while a resumable session redials).
        public TcpTransport(string host, int port, TimeSpan timeout, CancellationToken cancel)
        {
            tcp = new TcpClient();
            try
            {
                var t = tcp.ConnectAsync(host, port);
                bool done;
                try { done = t.Wait((int)timeout.TotalMilliseconds, cancel); }
                catch (OperationCanceledException) { throw new IOException("connect to " + host + ":" + port + ": cancelled, the client closed"); }
                if (!done) throw new IOException("connect to " + host + ":" + port + ": no answer within " + timeout.TotalSeconds + " s");
                tcp.NoDelay = true;
                tcp.SendTimeout = 10000;
                stream = tcp.GetStream();
            }
            catch (AggregateException e)
            {
                tcp.Close();
                throw new IOException("connect to " + host + ":" + port + ": " + e.InnerException.Message, e.InnerException);
            }
            catch
            {
                tcp.Close();
                throw;
            }
        }

        public int Read(byte[] buf, int off, int n) { return stream.Read(buf, off, n); }
        public void Write(byte[] buf, int off, int n) { stream.Write(buf, off, n); }

        public void Close()
        {
            if (Interlocked.Exchange(ref closed, 1) != 0) return;
            try { tcp.Client.Shutdown(SocketShutdown.Both); } catch (Exception) { }
            tcp.Close();
        }
    }

    sealed class WebSocketTransport : ITransport
    {
        readonly ClientWebSocket ws = new ClientWebSocket();
        int closed;

        public WebSocketTransport(Uri uri, TimeSpan timeout, CancellationToken cancel)
        {
            try
            {
                using (var cts = CancellationTokenSource.CreateLinkedTokenSource(cancel))
                {
                    cts.CancelAfter(timeout);
                    ws.ConnectAsync(uri, cts.Token).GetAwaiter().GetResult();
                }
            }
            catch (Exception e)
            {
                ws.Dispose();
                throw new IOException("connect to " + uri + ": " + e.Message, e);
            }
        }

        public int Read(byte[] buf, int off, int n)
        {
            while (true)
            {
                var r = ws.ReceiveAsync(new ArraySegment<byte>(buf, off, n), CancellationToken.None).GetAwaiter().GetResult();
                if (r.MessageType == WebSocketMessageType.Close) return 0;
                if (r.MessageType == WebSocketMessageType.Text)
                    throw new ProtocolException("the gate sent a WebSocket text message; goworld speaks binary messages only");
                if (r.Count > 0) return r.Count; // empty messages carry nothing
            }
        }

        public void Write(byte[] buf, int off, int n)
        {
            using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
                ws.SendAsync(new ArraySegment<byte>(buf, off, n), WebSocketMessageType.Binary, true, cts.Token).GetAwaiter().GetResult();
        }

        public void Close()
        {
            if (Interlocked.Exchange(ref closed, 1) != 0) return;
            try
            {
                if (ws.State == WebSocketState.Open || ws.State == WebSocketState.CloseReceived)
                {
                    // The close message (code 1000, protocol.md 3.3); its
                    // send is bounded by a second.
                    using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1)))
                        ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", cts.Token).Wait(TimeSpan.FromSeconds(1));
                }
            }
            catch (Exception) { }
            ws.Abort();
            ws.Dispose();
        }
    }

    /// <summary>
    /// A connection to a goworld gate and the client's view of the world:
    /// its player, the entities it sees, the space it is in.
    ///
    /// Connect with <see cref="ConnectTcp"/>, <see cref="ConnectKcp"/> or <see cref="ConnectWebSocket"/>,
    /// register handlers (<see cref="On"/>, the events), call
    /// <see cref="Poll"/> once per frame on the main thread (Unity: in
    /// Update), and <see cref="Close"/> when done. No handler ever runs
    /// outside Poll.
    /// </summary>
    public sealed class GoWorldClient : IDisposable
    {
        /// <summary>The most of a kick reason (or any disconnect reason) kept, in characters (a cut one ends in "…").</summary>
        public const int MaxReasonLength = 1024;

        /// <summary>
        /// The longest resume window the client honours, in milliseconds:
        /// an hour, the most a gate's resume_window may be.
        /// </summary>
        public const uint MaxResumeWindowMs = 3600 * 1000;

        /// <summary>
        /// What each decoded value counts for, in bytes, against
        /// <see cref="ClientOptions.MaxQueuedBytes"/> (besides the body's
        /// own bytes): about what a boxed scalar or an empty container
        /// costs in memory, with the reference to it.
        /// </summary>
        public const int ValueCost = 64;

        readonly ClientOptions opts;
        readonly int sendQueueMax, frameValuesMax;
        readonly Func<CancellationToken, ITransport> dial;
        readonly CancellationTokenSource closing = new CancellationTokenSource(); // cancelled by Fail: a dial gives up
        ITransport transport;           // the current connection (under writeLock)
        volatile bool connected = true; // false while a resumable session redials
        readonly Thread reader, keeper, writer;

        // The outbound queue (under writeLock): frames for the current
        // connection in the order Send took the lock, which the writer
        // thread takes all at once and writes in one write. Nothing but
        // the writer writes to a connection once the threads run.
        readonly List<byte[]> outq = new List<byte[]>();
        long outBytes;
        readonly object syncPosLock = new object(); // SyncPosition: the send and the local position in one order

        // Resumable sessions (protocol.md 8.1).
        volatile bool resumable;        // the gate sent MsgSession
        bool resumeOff;                 // asked, but the gate holds no sessions (under writeLock)
        byte[] token;                   // reader thread
        uint windowMs;
        long redialDeadline = -1;       // reader thread: when the window of the current drop ends
        long recvCount, recvAcked;      // session frames received / acknowledged (under ackLock)
        long firstUnackedMs = -1, unackedBytes;
        readonly object ackLock = new object();
        long sentCount, gateAcked;      // session frames sent / acknowledged by the gate (under writeLock)
        readonly Queue<byte[]> journal = new Queue<byte[]>(); // frames gateAcked+1 … sentCount
        long journalBytes;
        bool journalOverflow;
        string dropReason;              // why the keeper cut a silent connection
        readonly Random jitter = new Random(); // reader thread
        readonly object writeLock = new object();
        readonly object queueLock = new object();
        readonly Queue<ServerFrame> queue = new Queue<ServerFrame>();
        long queuedBytes;
        readonly ManualResetEvent stop = new ManualResetEvent(false);
        readonly ManualResetEvent byeAnswered = new ManualResetEvent(false);
        readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();
        long lastReceivedMs;            // Interlocked
        int intervalMs = 5000, gateTimeoutMs = 30000; // as announced (volatile by Interlocked)
        int byeSent;
        // Lock order: never take stateLock while holding queueLock; the
        // closed flag is read without a lock.
        readonly object stateLock = new object();
        int closed;                     // 1 once the connection ended (Volatile)
        string reason;                  // set before closed
        bool disconnectDelivered;       // under queueLock

        readonly Dictionary<string, ClientEntity> entities = new Dictionary<string, ClientEntity>();
        readonly IDictionary<string, ClientEntity> entitiesView;
        readonly Dictionary<string, Action<ClientCall>> handlers = new Dictionary<string, Action<ClientCall>>();
        readonly object requestLock = new object();
        readonly Dictionary<uint, PendingRequest> pending = new Dictionary<uint, PendingRequest>();
        uint nextRequestId;

        sealed class PendingRequest
        {
            public Action<Reply> Done;
            public long DeadlineMs;
        }

        /// <summary>The player entity, or null (before the first, between a handover's two frames).</summary>
        public ClientEntity Player { get; private set; }
        /// <summary>The space the player is in, or null for none.</summary>
        public string SpaceId { get; private set; }
        /// <summary>The type of <see cref="SpaceId"/>, or null.</summary>
        public string SpaceType { get; private set; }
        /// <summary>
        /// The entities the client holds, the player included, by ID: a
        /// read-only view (changing it throws NotSupportedException) that
        /// Poll updates; read it on the thread that calls Poll.
        /// </summary>
        public IDictionary<string, ClientEntity> Entities { get { return entitiesView; } }
        /// <summary>The reason of the MsgKick received, or null.</summary>
        public string KickReason { get; private set; }
        /// <summary>Why the connection ended (set once it has), or null.</summary>
        public string DisconnectReason { get { lock (stateLock) return reason; } }
        /// <summary>Whether the connection is still open.</summary>
        public bool IsConnected { get { return !IsClosedNow(); } }
        /// <summary>The heartbeat interval in use (the gate's announcement, or the option).</summary>
        public TimeSpan HeartbeatInterval { get { return TimeSpan.FromMilliseconds(Interval()); } }
        /// <summary>
        /// Bytes sent (calls, requests, positions, heartbeats) and not yet
        /// handed to the socket: the send queue, which may not pass
        /// <see cref="ClientOptions.MaxSendQueueBytes"/>. A game that sends
        /// in bulk can hold back while it is high, rather than end the
        /// session.
        /// </summary>
        public long QueuedSendBytes { get { lock (writeLock) return outBytes; } }
        /// <summary>Whether the session is resumable: Resume was asked and the gate sent MsgSession.</summary>
        public bool IsResumable { get { return resumable; } }

        /// <summary>A resumable session's connection dropped; the client is dialling again (the reason). Runs in Poll.</summary>
        public event Action<string> Reconnecting;
        /// <summary>A resumable session was taken up again on a new connection. Runs in Poll.</summary>
        public event Action Reconnected;

        /// <summary>An entity was created (the player or another). Runs in Poll.</summary>
        public event Action<ClientEntity> EntityCreated;
        /// <summary>An entity was destroyed (removed from the view). Runs in Poll.</summary>
        public event Action<ClientEntity> EntityDestroyed;
        /// <summary>An attribute changed; already applied to Entity.Attrs. Runs in Poll.</summary>
        public event Action<AttrChange> AttrChanged;
        /// <summary>The player entered a space (SpaceId set) or left it (SpaceId null). Runs in Poll.</summary>
        public event Action<GoWorldClient> SpaceChanged;
        /// <summary>An entity's position changed (MsgPositions), the player's included. Runs in Poll.</summary>
        public event Action<ClientEntity> EntityMoved;
        /// <summary>Every call from the server, before its handler (<see cref="On"/>). Runs in Poll.</summary>
        public event Action<ClientCall> CallReceived;
        /// <summary>A call for a method with no handler. Runs in Poll.</summary>
        public event Action<ClientCall> UnhandledCall;
        /// <summary>The connection ended, with the reason (the kick's, or what happened). Runs in Poll, once, last.</summary>
        public event Action<string> Disconnected;

        GoWorldClient(Func<CancellationToken, ITransport> dial, ClientOptions o)
        {
            this.dial = dial;
            opts = o;
            sendQueueMax = o.MaxSendQueueBytes > 0 ? o.MaxSendQueueBytes : 4 << 20;
            frameValuesMax = o.MaxFrameValues > 0 ? o.MaxFrameValues : MsgPack.DefaultMaxValues;
            entitiesView = new System.Collections.ObjectModel.ReadOnlyDictionary<string, ClientEntity>(entities);
            var t = dial(CancellationToken.None);
            transport = t;
            if (o.HeartbeatInterval > TimeSpan.Zero) intervalMs = (int)o.HeartbeatInterval.TotalMilliseconds;
            lastReceivedMs = clock.ElapsedMilliseconds;
            // Hello first, then a heartbeat: its answer says the gate's settings.
            var first = Concat(Protocol.Hello(o.Resume ? Protocol.HelloResume : (byte)0), Protocol.Heartbeat());
            try { t.Write(first, 0, first.Length); }
            catch { t.Close(); throw; }
            reader = new Thread(ReadLoop) { IsBackground = true, Name = "goworld reader" };
            keeper = new Thread(KeepLoop) { IsBackground = true, Name = "goworld heartbeat" };
            writer = new Thread(WriteLoop) { IsBackground = true, Name = "goworld writer" };
            reader.Start();
            keeper.Start();
            writer.Start();
        }

        /// <summary>
        /// Connects over TCP (protocol.md 3.1) and sends the hello. Blocks
        /// for at most options.ConnectTimeout; throws IOException on failure.
        /// </summary>
        public static GoWorldClient ConnectTcp(string host, int port, ClientOptions options = null)
        {
            var o = options ?? new ClientOptions();
            return new GoWorldClient(cancel => new TcpTransport(host, port, o.ConnectTimeout, cancel), o);
        }

        /// <summary>
        /// Connects over WebSocket (protocol.md 3.3; ws:// or wss://) and
        /// sends the hello. Blocks for at most options.ConnectTimeout;
        /// throws IOException on failure.
        /// </summary>
        public static GoWorldClient ConnectWebSocket(string url, ClientOptions options = null)
        {
            var o = options ?? new ClientOptions();
            var uri = new Uri(url);
            return new GoWorldClient(cancel => new WebSocketTransport(uri, o.ConnectTimeout, cancel), o);
        }

        /// <summary>
        /// Connects over KCP (protocol.md 3.2: UDP to the gate's TCP port
        /// number, the cookie handshake, then a KCP session with the gate's
        /// settings) and sends the hello. Blocks for at most
        /// options.ConnectTimeout; throws IOException on failure. A
        /// resumable session's redial opens a new UDP socket and handshake.
        /// </summary>
        public static GoWorldClient ConnectKcp(string host, int port, ClientOptions options = null)
        {
            var o = options ?? new ClientOptions();
            int dials = 0;
            // A first dial's hellos back off to a second apart; a redial
            // resends every 250 ms, so that a player whose network returns
            // is answered at once (as the Go client does).
            return new GoWorldClient(cancel => new KcpTransport(host, port, o.ConnectTimeout, (int)Math.Min(o.MaxBodySize + 6L, int.MaxValue),
                Interlocked.Increment(ref dials) == 1 ? 1000 : 250, cancel), o);
        }

        // ---------------------------------------------------------------
        // Background threads

        // Local frame types, queued for Poll by the reader (never on the wire).
        const ushort LocalReconnecting = 0xfffe, LocalReconnected = 0xffff;

        static byte[] Concat(byte[] a, byte[] b)
        {
            var r = new byte[a.Length + b.Length];
            Buffer.BlockCopy(a, 0, r, 0, a.Length);
            Buffer.BlockCopy(b, 0, r, a.Length, b.Length);
            return r;
        }

        // ReadLoop reads the connection; in a resumable session it dials
        // again after a drop and reads the new connection, until the
        // session ends.
        void ReadLoop()
        {
            bool resuming = false;
            while (true)
            {
                string drop = ReadConnection(resuming);
                if (drop == null) return; // ended for good (Fail was called)
                if (!CanResume())
                {
                    Fail(Lost(drop));
                    return;
                }
                if (!Redial(drop)) return;
                resuming = true;
            }
        }

        // Lost is the reason for a connection that broke: what broke it,
        // or, once Close has sent MsgBye, "closed by the client" (the
        // gate answers a MsgBye and closes; a write or read that fails
        // then is the close the client asked for).
        string Lost(string why)
        {
            return Volatile.Read(ref byeSent) != 0 ? "closed by the client" : why;
        }

        bool CanResume()
        {
            if (!resumable || IsClosedNow() || Volatile.Read(ref byeSent) != 0) return false;
            lock (writeLock) return !journalOverflow;
        }

        // ReadConnection reads frames from the current connection until it
        // ends. It returns why, for a drop that a resumable session may
        // survive (the end of the stream, a read error, a silent server);
        // null when the session ended (a kick, a bye, a protocol error, Close).
        string ReadConnection(bool resuming)
        {
            ITransport t;
            lock (writeLock) t = transport;
            var head = new byte[4];
            bool sessionStarted = false; // MsgSession or MsgResumed seen on this connection
            try
            {
                while (true)
                {
                    // The length, checked before anything else is read (protocol.md 4).
                    if (!ReadFull(t, head, 4))
                    {
                        if (Volatile.Read(ref byeSent) != 0) { Fail("closed by the client"); return null; }
                        return DropReason("connection closed by the server");
                    }
                    uint length = (uint)(head[0] | (head[1] << 8) | (head[2] << 16) | (head[3] << 24));
                    if (length < 2) throw new ProtocolException("frame length below 2");
                    if (length - 2 > (uint)opts.MaxBodySize)
                        throw new ProtocolException("frame too large: " + (length - 2) + " bytes, limit " + opts.MaxBodySize);
                    if (!ReadFull(t, head, 2)) throw new IOException("connection closed inside a frame");
                    ushort type = (ushort)(head[0] | (head[1] << 8));
                    byte[] body = ReadBody(t, (int)(length - 2));
                    if (body == null) throw new IOException("connection closed inside a frame");
                    Interlocked.Exchange(ref lastReceivedMs, clock.ElapsedMilliseconds);
                    var f = Protocol.DecodeServerFrame(type, body, 0, body.Length, frameValuesMax);
                    if (!opts.Resume && (type == MsgType.Session || type == MsgType.Resumed || type == MsgType.Ack))
                        throw new ProtocolException("unexpected message type " + type);
                    switch (type)
                    {
                        case MsgType.HeartbeatAck:
                            Announce(f.HeartbeatIntervalMs, f.HeartbeatTimeoutMs);
                            continue;
                        case MsgType.Bye:
                            if (Volatile.Read(ref byeSent) != 0) { byeAnswered.Set(); Fail("closed by the client"); }
                            else Fail("closed by the server (MsgBye)");
                            return null;
                        case MsgType.Kick:
                            Enqueue(f);
                            Fail(Protocol.Cut(f.Text, MaxReasonLength));
                            return null;
                        case MsgType.Session:
                            if (resuming || sessionStarted || resumable) throw new ProtocolException("unexpected MsgSession");
                            token = f.Token;
                            // A gate holds a session at most an hour
                            // (resume_window): a larger window would keep
                            // a client redialling a gate that is gone.
                            windowMs = Math.Min(f.WindowMs, MaxResumeWindowMs);
                            sessionStarted = true;
                            resumable = true;
                            continue;
                        case MsgType.Resumed:
                            if (!resuming || sessionStarted) throw new ProtocolException("unexpected MsgResumed");
                            token = f.Token;
                            sessionStarted = true;
                            Resumed(f.Received);
                            continue;
                        case MsgType.Ack:
                            if (!sessionStarted) throw new ProtocolException("MsgAck outside a resumable session");
                            GateAck(f.Received);
                            continue;
                    }
                    if (resuming && !sessionStarted) continue; // before MsgResumed: the session resends its own copy
                    if (opts.Resume && !resumable && type == MsgType.CreateEntity)
                    {
                        // The boot entity with no MsgSession before it: the gate holds no sessions.
                        lock (writeLock) { resumeOff = true; journal.Clear(); journalBytes = 0; }
                    }
                    if (sessionStarted && MsgType.IsSessionFrame(type)) Received(body.Length + 6);
                    Enqueue(f);
                    if (IsClosedNow()) return null;
                }
            }
            catch (ProtocolException e) { Fail("protocol error: " + e.Message); return null; }
            catch (Exception e)
            {
                if (IsClosedNow()) return null;
                return DropReason("connection lost: " + e.Message);
            }
        }

        // DropReason prefers the reason the keeper gave when it cut the
        // connection (a silent server) to what the read saw.
        string DropReason(string seen)
        {
            string why = Interlocked.Exchange(ref dropReason, null);
            return why ?? seen;
        }

        // Received counts a session frame from the gate and acknowledges at
        // 32 KiB (the keeper acknowledges after 100 ms, protocol.md 8.1).
        void Received(int size)
        {
            bool ackNow;
            lock (ackLock)
            {
                recvCount++;
                if (firstUnackedMs < 0) firstUnackedMs = clock.ElapsedMilliseconds;
                unackedBytes += size;
                ackNow = unackedBytes >= 32 << 10;
            }
            if (ackNow) SendAck();
        }

        // SendAck acknowledges every session frame received so far. The
        // reader and the keeper both call it: the count is taken and sent
        // under writeLock (lock order: writeLock, then ackLock), so acks
        // leave in the order they were counted; the gate kicks a client
        // whose ack goes backwards (protocol.md 8.1).
        void SendAck()
        {
            lock (writeLock)
            {
                long n;
                lock (ackLock)
                {
                    if (recvCount == recvAcked) return;
                    n = recvCount;
                    recvAcked = n;
                    firstUnackedMs = -1;
                    unackedBytes = 0;
                }
                try { Send(Protocol.Ack((ulong)n), false); }
                catch (Exception) { } // a drop: the resume says how far we got
            }
        }

        // GateAck forgets the sent frames the gate acknowledged.
        void GateAck(ulong received)
        {
            lock (writeLock)
            {
                if (received < (ulong)gateAcked || received > (ulong)sentCount)
                    throw new ProtocolException("Ack of " + received + " frames, but " + sentCount + " were sent");
                Trim((long)received);
            }
        }

        void Trim(long upTo)
        {
            while (gateAcked < upTo)
            {
                if (journal.Count > 0) journalBytes -= journal.Dequeue().Length; // empty past an overflow
                gateAcked++;
            }
        }

        // Resumed: the gate took the session up and has received our frames
        // up to received; resend the rest, in order, then carry on. They go
        // ahead of anything sent from now on (Send queues nothing until
        // connected); the journal is bounded by ResumeBufferSize, so the
        // send queue's bound does not apply to them.
        void Resumed(ulong received)
        {
            lock (writeLock)
            {
                if (received < (ulong)gateAcked || received > (ulong)sentCount)
                    throw new ProtocolException("Resumed with " + received + " frames received, but " + sentCount + " were sent");
                Trim((long)received);
                foreach (byte[] fr in journal) Push(fr);
                connected = true;
                redialDeadline = -1;
            }
            Interlocked.Exchange(ref lastReceivedMs, clock.ElapsedMilliseconds);
            EnqueueLocal(LocalReconnected, null);
        }

        // Redial dials again, with backoff, within the gate's resume window,
        // and sends MsgResume on the first connection that opens. False if
        // the session ended (Fail was called).
        bool Redial(string why)
        {
            ITransport old;
            lock (writeLock)
            {
                connected = false;
                old = transport;
                DropOutbound(); // heartbeats and acks of the old connection; session frames are in the journal
            }
            old.Close();
            EnqueueLocal(LocalReconnecting, why);
            // The window runs from the first drop, across failed resumes.
            if (redialDeadline < 0) redialDeadline = clock.ElapsedMilliseconds + windowMs;
            long deadline = redialDeadline;
            int backoff = 100;
            while (!IsClosedNow())
            {
                long left = deadline - clock.ElapsedMilliseconds;
                if (left <= 0) break;
                ITransport t = null;
                try
                {
                    t = dial(closing.Token); // Close cancels it
                    long received;
                    lock (ackLock) { received = recvCount; recvAcked = received; firstUnackedMs = -1; unackedBytes = 0; }
                    var first = Concat(Protocol.Resume(token, (ulong)received), Protocol.Heartbeat());
                    lock (writeLock)
                    {
                        if (IsClosedNow()) { t.Close(); return false; }
                        transport = t;
                        DropOutbound();
                        Push(first); // the writer writes it: it alone writes
                    }
                    Interlocked.Exchange(ref lastReceivedMs, clock.ElapsedMilliseconds);
                    return true;
                }
                catch (Exception)
                {
                    if (t != null) t.Close();
                }
                // Backoff with jitter (±25%), so that the clients of a gate
                // that comes back do not all dial at the same moment.
                int wait = backoff * 3 / 4 + jitter.Next(backoff / 2 + 1);
                if (stop.WaitOne((int)Math.Min(wait, Math.Max(left, 1)))) break;
                backoff = Math.Min(backoff * 2, 2000);
            }
            Fail("connection lost: " + why + "; no resume within the gate's resume window");
            return false;
        }

        bool ReadFull(ITransport t, byte[] buf, int n)
        {
            int got = 0;
            while (got < n)
            {
                int k = t.Read(buf, got, n - got);
                if (k <= 0)
                {
                    if (got == 0) return false;
                    throw new IOException("connection closed inside a frame");
                }
                got += k;
            }
            return true;
        }

        // ReadBody reads n bytes, growing its buffer as they arrive: a
        // length that the server declares but does not send costs nothing.
        byte[] ReadBody(ITransport t, int n)
        {
            byte[] buf = new byte[Math.Min(n, 64 << 10)];
            int got = 0;
            while (got < n)
            {
                if (got == buf.Length) Array.Resize(ref buf, (int)Math.Min((long)n, 2L * buf.Length));
                int k = t.Read(buf, got, buf.Length - got);
                if (k <= 0) return null;
                got += k;
            }
            return buf;
        }

        void Announce(uint interval, uint timeout)
        {
            if (interval == 0) return; // an empty body says nothing
            long i = Math.Min(Math.Max(interval, 100L), 600000L);
            long t = Math.Min(Math.Max(timeout, 2 * i), 3600000L);
            if (opts.HeartbeatInterval <= TimeSpan.Zero) Interlocked.Exchange(ref intervalMs, (int)i);
            Interlocked.Exchange(ref gateTimeoutMs, (int)t);
        }

        int Interval() { return Volatile.Read(ref intervalMs); }

        long DeadAfterMs()
        {
            if (opts.HeartbeatTimeout > TimeSpan.Zero) return (long)opts.HeartbeatTimeout.TotalMilliseconds;
            return Math.Min(4L * Interval(), Volatile.Read(ref gateTimeoutMs));
        }

        // KeepLoop sends heartbeats (and, in a resumable session, acks) and
        // takes a silent server as gone.
        void KeepLoop()
        {
            long lastBeat = clock.ElapsedMilliseconds;
            var hb = Protocol.Heartbeat();
            while (!stop.WaitOne(Math.Min(Interval(), 100)))
            {
                if (IsClosedNow()) return;
                long now = clock.ElapsedMilliseconds;
                if (now - Interlocked.Read(ref lastReceivedMs) > DeadAfterMs())
                {
                    if (!CanResume())
                    {
                        Fail("the server stopped answering");
                        return;
                    }
                    // A drop: cut the connection; the reader dials again.
                    Interlocked.Exchange(ref dropReason, "the server stopped answering");
                    ITransport t;
                    lock (writeLock) t = transport;
                    t.Close();
                    Interlocked.Exchange(ref lastReceivedMs, now);
                    continue;
                }
                if (!connected) { lastBeat = now; continue; } // redialling, or waiting for MsgResumed
                bool ack;
                lock (ackLock) ack = firstUnackedMs >= 0 && now - firstUnackedMs >= 100;
                if (now - lastBeat >= Interval())
                {
                    lastBeat = now;
                    ack = true; // with every heartbeat, if anything is new
                    try { Send(hb, false); }
                    catch (Exception e) { if (!CanResume()) { Fail(Lost("connection lost: " + e.Message)); return; } }
                }
                if (ack && resumable) SendAck();
            }
        }

        bool IsClosedNow() { return Volatile.Read(ref closed) != 0; }

        void Enqueue(ServerFrame f)
        {
            lock (queueLock)
            {
                // Bounded: wait for Poll rather than grow without end.
                while (queuedBytes > 0 && queuedBytes + Charge(f) > opts.MaxQueuedBytes && !IsClosedNow())
                    Monitor.Wait(queueLock, 100);
                // Once the connection has ended (Close, a silent server), a
                // frame read meanwhile is dropped: Disconnected is last.
                // (The reader's own ends, a kick or the end of the stream,
                // queue everything before they close.)
                if (IsClosedNow()) return;
                queue.Enqueue(f);
                queuedBytes += Charge(f);
            }
        }

        // Charge is what a queued frame counts for against MaxQueuedBytes:
        // its body, and ValueCost for each value decoded from it.
        static long Charge(ServerFrame f) { return f.BodySize + (long)ValueCost * f.Values; }

        void EnqueueLocal(ushort type, string text)
        {
            Enqueue(new ServerFrame { Type = type, Text = text });
        }

        // Fail ends the connection once, with the first reason given (null:
        // keep the reason already set), cut to MaxReasonLength: a reason
        // may quote the gate (a kick, an attribute path's key).
        void Fail(string why)
        {
            ITransport t;
            lock (stateLock)
            {
                if (IsClosedNow()) return;
                reason = Protocol.Cut(why, MaxReasonLength) ?? "connection closed";
                Volatile.Write(ref closed, 1);
            }
            closing.Cancel(); // a dial under way gives up
            lock (writeLock)
            {
                t = transport;
                Monitor.PulseAll(writeLock); // the writer drops what is queued and ends
            }
            t.Close();
            stop.Set();
            lock (queueLock) Monitor.PulseAll(queueLock);
        }

        // Send queues a frame for the writer thread; it never waits for the
        // network. A session frame (a call, request or
        // position) in a resumable session is also kept until the gate
        // acknowledges it, and while the client redials it is only kept:
        // the resume sends it. Returns whether it will go out. A frame that
        // takes a non-empty queue past MaxSendQueueBytes ends the session.
        bool Send(byte[] frame, bool session)
        {
            if (frame.Length - 6 > opts.MaxSendBodySize)
                throw new ArgumentException("frame body of " + (frame.Length - 6) + " bytes, over the limit of " + opts.MaxSendBodySize);
            lock (writeLock)
            {
                if (IsClosedNow()) throw new InvalidOperationException("the connection is closed: " + DisconnectReason);
                if (session && opts.Resume && !resumeOff)
                {
                    sentCount++;
                    if (!journalOverflow)
                    {
                        journal.Enqueue(frame);
                        journalBytes += frame.Length;
                    }
                    if (journalBytes > opts.ResumeBufferSize && !journalOverflow)
                    {
                        // Past the bound: no resume is possible any more; keep
                        // nothing (a drop now ends the session).
                        journalOverflow = true;
                        journal.Clear();
                        journalBytes = 0;
                    }
                }
                if (!connected) return session && resumable;
                if (outBytes > 0 && outBytes + frame.Length > sendQueueMax)
                {
                    // The network does not carry what the game sends: end
                    // the session, as the gate ends a slow consumer,
                    // rather than wait or grow without bound.
                    Fail("send queue over " + sendQueueMax + " bytes (MaxSendQueueBytes): the network does not carry what the client sends");
                    throw new InvalidOperationException("the connection is closed: " + DisconnectReason);
                }
                Push(frame);
                return true;
            }
        }

        // Push appends a frame to the outbound queue and wakes the writer
        // (under writeLock).
        void Push(byte[] frame)
        {
            outq.Add(frame);
            outBytes += frame.Length;
            Monitor.PulseAll(writeLock);
        }

        // DropOutbound forgets what is queued for the connection (under writeLock).
        void DropOutbound()
        {
            outq.Clear();
            outBytes = 0;
        }

        // WriteLoop is the writer thread: it takes everything queued, as
        // soon as there is anything, and writes it in one write to the
        // connection it was queued for; it ends when the connection does.
        void WriteLoop()
        {
            byte[] buf = new byte[64 << 10];
            while (true)
            {
                ITransport t;
                int n = 0;
                lock (writeLock)
                {
                    while (outq.Count == 0 && !IsClosedNow()) Monitor.Wait(writeLock);
                    if (IsClosedNow())
                    {
                        DropOutbound();
                        return;
                    }
                    if (buf.Length < outBytes) buf = new byte[Math.Max(outBytes, 2L * buf.Length)];
                    foreach (byte[] fr in outq)
                    {
                        Buffer.BlockCopy(fr, 0, buf, n, fr.Length);
                        n += fr.Length;
                    }
                    DropOutbound();
                    t = transport;
                }
                try { t.Write(buf, 0, n); }
                catch (Exception e)
                {
                    if (IsClosedNow()) return;
                    bool current;
                    lock (writeLock) current = t == transport;
                    if (!current) continue; // a connection already dropped
                    if (!resumable)
                    {
                        // The connection is gone (or a timed-out write left
                        // half a frame on it): end it; sends then fail as
                        // the API says for a closed connection.
                        Fail(Lost("connection lost: " + e.Message));
                        return;
                    }
                    t.Close(); // a drop: the reader dials again, the resume resends
                }
                if (buf.Length > 1 << 20) buf = new byte[64 << 10]; // a burst's buffer is not kept
            }
        }

        // ---------------------------------------------------------------
        // API for the game

        /// <summary>
        /// Registers the handler of a method the server calls on the
        /// client (MsgCallClient). One handler per method; null removes it.
        /// Call it on the thread that calls Poll (which reads the handlers),
        /// or before the first Poll.
        /// </summary>
        public void On(string method, Action<ClientCall> handler)
        {
            if (handler == null) handlers.Remove(method);
            else handlers[method] = handler;
        }

        /// <summary>
        /// Calls an exposed method on an entity (MsgCallEntity). No answer
        /// comes back; see <see cref="Request"/>. It queues the frame for
        /// the writer thread and returns at once, whatever the network
        /// does. Throws ArgumentException
        /// for a bad ID, method name or argument, and InvalidOperationException
        /// once the connection is closed (a failed write closes it, and so
        /// does a send queue over MaxSendQueueBytes: Poll then delivers
        /// Disconnected).
        /// </summary>
        public void Call(string entityId, string method, params object[] args)
        {
            Send(Protocol.CallEntity(entityId, method, args), true);
        }

        /// <summary>Calls a method on the player (see <see cref="Call"/>).</summary>
        public void CallPlayer(string method, params object[] args)
        {
            var p = Player;
            if (p == null) throw new InvalidOperationException("no player entity yet");
            Call(p.Id, method, args);
        }

        /// <summary>
        /// Sends a request (MsgRequest) and returns its ID; done runs in Poll
        /// with the reply, with code Timeout once timeout has passed (0:
        /// options.RequestTimeout; a later answer is dropped), or code
        /// Disconnected when the connection ends first. Runs exactly once.
        /// </summary>
        public uint Request(string entityId, string method, object[] args, Action<Reply> done, TimeSpan timeout = default(TimeSpan))
        {
            if (done == null) throw new ArgumentNullException("done");
            if (timeout <= TimeSpan.Zero) timeout = opts.RequestTimeout;
            uint id;
            lock (requestLock)
            {
                do { id = ++nextRequestId; } while (id == 0 || pending.ContainsKey(id));
                pending[id] = new PendingRequest { Done = done, DeadlineMs = clock.ElapsedMilliseconds + (long)timeout.TotalMilliseconds };
            }
            try { Send(Protocol.Request(entityId, id, method, args), true); }
            catch
            {
                lock (requestLock) pending.Remove(id);
                throw;
            }
            return id;
        }

        /// <summary>Sends a request to the player (see <see cref="Request"/>).</summary>
        public uint RequestPlayer(string method, object[] args, Action<Reply> done, TimeSpan timeout = default(TimeSpan))
        {
            var p = Player;
            if (p == null) throw new InvalidOperationException("no player entity yet");
            return Request(p.Id, method, args, done, timeout);
        }

        /// <summary>
        /// Reports that the player moved (MsgSyncPosition) and sets its
        /// local position. Only while the player is in a space; the values
        /// must be finite. Any thread may call it, while Poll runs on
        /// another: Position is never seen half written, and of two
        /// threads' calls the one sent last is the one kept.
        /// </summary>
        public void SyncPosition(Position p)
        {
            var player = Player;
            string space = SpaceId;
            if (player == null || space == null) throw new InvalidOperationException("the player is in no space");
            var frame = Protocol.SyncPosition(player.Id, space, p);
            // Two threads' positions: the last sent is the one kept.
            lock (syncPosLock)
            {
                Send(frame, true);
                player.SetPosition(p);
            }
        }

        /// <summary>
        /// Applies what the reader thread queued and runs the handlers, on
        /// the calling thread (Unity: call it in Update). Returns the number
        /// of frames applied. If a handler (or a request's callback)
        /// throws, the exception comes out of Poll and the frames and
        /// expired requests after it stay queued for the next Poll.
        /// </summary>
        public int Poll()
        {
            int n = 0;
            while (true)
            {
                ServerFrame f;
                lock (queueLock)
                {
                    if (queue.Count == 0) break;
                    f = queue.Dequeue();
                    queuedBytes -= Charge(f);
                    Monitor.PulseAll(queueLock);
                }
                n++;
                Apply(f);
            }
            ExpireRequests();
            DeliverDisconnect();
            return n;
        }

        /// <summary>
        /// Closes the connection: queues MsgBye after everything sent
        /// before it, waits (options.CloseTimeout at most) for the gate's
        /// MsgBye in answer (so all of it was written) or the end of the
        /// connection, closes the socket and stops and joins the threads
        /// (what is still queued then is dropped). While a resumable
        /// session redials, it returns at once: the dial is cancelled. A
        /// Poll afterwards delivers what was queued and the Disconnected
        /// event ("closed by the client").
        /// </summary>
        public void Close()
        {
            if (!IsClosedNow())
            {
                Interlocked.Exchange(ref byeSent, 1);
                bool sent = true;
                try { sent = Send(Protocol.Bye(), false); } catch (Exception) { sent = false; }
                // The gate's MsgBye, or the end of the connection (stop:
                // the gate closed without a MsgBye, or it dropped).
                if (sent) WaitHandle.WaitAny(new WaitHandle[] { byeAnswered, stop }, opts.CloseTimeout);
                Fail("closed by the client");
            }
            if (Thread.CurrentThread != reader) reader.Join();
            if (Thread.CurrentThread != keeper) keeper.Join();
            if (Thread.CurrentThread != writer) writer.Join();
        }

        /// <summary>Same as <see cref="Close"/>.</summary>
        public void Dispose() { Close(); }

        // ---------------------------------------------------------------
        // Applying frames (main thread)

        void Apply(ServerFrame f)
        {
            switch (f.Type)
            {
                case MsgType.CreateEntity:
                    {
                        var e = new ClientEntity { Id = f.Id, Type = f.TypeName, IsPlayer = f.IsPlayer, Attrs = f.Attrs, HasPosition = f.HasPos, Position = f.Pos };
                        if (f.IsPlayer)
                        {
                            if (Player != null && Player.Id != f.Id) Player.IsPlayer = false;
                            Player = e;
                        }
                        else if (Player != null && Player.Id == f.Id)
                        {
                            // isPlayer = 0 leaves the player unchanged, even
                            // when it names the player (protocol.md 6.4).
                            e.IsPlayer = true;
                            Player = e;
                        }
                        entities[f.Id] = e;
                        Raise(EntityCreated, e);
                        break;
                    }
                case MsgType.DestroyEntity:
                    {
                        ClientEntity e;
                        if (f.Id == null || !entities.TryGetValue(f.Id, out e)) break; // ignore unknown IDs
                        entities.Remove(f.Id);
                        if (Player == e) Player = null;
                        Raise(EntityDestroyed, e);
                        break;
                    }
                case MsgType.CallClient:
                    {
                        ClientEntity e = null;
                        bool broadcast = f.Id == null;
                        if (broadcast) e = Player;
                        else if (!entities.TryGetValue(f.Id, out e)) break; // a call for an entity we do not hold: ignore
                        var call = new ClientCall { Entity = e, Method = f.Method, Args = f.Args, IsBroadcast = broadcast };
                        Raise(CallReceived, call);
                        Action<ClientCall> h;
                        if (handlers.TryGetValue(f.Method, out h)) h(call);
                        else Raise(UnhandledCall, call);
                        break;
                    }
                case MsgType.AttrChange:
                    {
                        ClientEntity e = null;
                        if (f.Id != null) entities.TryGetValue(f.Id, out e);
                        if (e != null)
                        {
                            string err = ApplyAttr(e.Attrs, f.Op, f.Path, f.Value);
                            if (err != null)
                            {
                                // The copy diverged: nothing can resynchronise it (protocol.md 11.2).
                                Fail("protocol error: attribute change of " + e + " does not apply: " + err);
                                DropQueue();
                                break;
                            }
                        }
                        Raise(AttrChanged, new AttrChange { Entity = e, EntityId = f.Id, Op = f.Op, Path = f.Path, Value = f.Value });
                        break;
                    }
                case MsgType.EnterSpace:
                    if (f.Id == null) { SpaceId = null; SpaceType = null; }
                    else
                    {
                        SpaceId = f.Id;
                        SpaceType = f.TypeName;
                        if (Player != null) Player.SetPosition(f.Pos);
                    }
                    Raise(SpaceChanged, this);
                    break;
                case MsgType.Positions:
                    for (int i = 0; i < f.PositionIds.Length; i++)
                    {
                        ClientEntity e;
                        if (!entities.TryGetValue(f.PositionIds[i], out e)) continue;
                        e.SetPosition(f.PositionList[i]);
                        Raise(EntityMoved, e);
                    }
                    break;
                case MsgType.Reply:
                    {
                        PendingRequest r;
                        lock (requestLock)
                        {
                            if (!pending.TryGetValue(f.RequestId, out r)) break; // given up on: ignore
                            pending.Remove(f.RequestId);
                        }
                        r.Done(new Reply { RequestId = f.RequestId, Code = f.Code, Result = f.Value, Message = f.Text });
                        break;
                    }
                case MsgType.Kick:
                    KickReason = Protocol.Cut(f.Text, MaxReasonLength);
                    break;
                case LocalReconnecting:
                    if (Reconnecting != null) Reconnecting(f.Text);
                    break;
                case LocalReconnected:
                    if (Reconnected != null) Reconnected();
                    break;
            }
        }

        void DropQueue()
        {
            lock (queueLock)
            {
                queue.Clear();
                queuedBytes = 0;
                Monitor.PulseAll(queueLock);
            }
        }

        static void Raise<T>(Action<T> ev, T arg)
        {
            if (ev != null) ev(arg);
        }

        void ExpireRequests()
        {
            List<KeyValuePair<uint, PendingRequest>> expired = null;
            bool gone = !IsConnected;
            long now = clock.ElapsedMilliseconds;
            lock (requestLock)
            {
                foreach (var kv in pending)
                {
                    if (gone || now >= kv.Value.DeadlineMs)
                    {
                        if (expired == null) expired = new List<KeyValuePair<uint, PendingRequest>>();
                        expired.Add(kv);
                    }
                }
            }
            if (expired == null) return;
            foreach (var kv in expired)
            {
                // Taken out one at a time, just before its callback: if a
                // callback throws (out of Poll), the others stay pending
                // and the next Poll runs them.
                lock (requestLock)
                    if (!pending.Remove(kv.Key)) continue;
                if (gone) kv.Value.Done(new Reply { RequestId = kv.Key, Code = ReplyCode.Disconnected, Message = "disconnected: " + DisconnectReason });
                else kv.Value.Done(new Reply { RequestId = kv.Key, Code = ReplyCode.Timeout, Message = "no answer in time" });
            }
        }

        void DeliverDisconnect()
        {
            if (!IsClosedNow()) return;
            lock (queueLock)
            {
                // Once closed, nothing more is queued: an empty queue is final.
                if (disconnectDelivered || queue.Count > 0) return;
                disconnectDelivered = true;
            }
            Raise(Disconnected, DisconnectReason);
        }

        /// <summary>
        /// Applies one attribute change (protocol.md 11.2) to an attribute
        /// tree. Returns null, or why the path does not resolve (the
        /// client's copy diverged). Exposed for tests and tools.
        /// </summary>
        public static string ApplyAttr(Dictionary<string, object> root, AttrOp op, List<object> path, object value)
        {
            if (path == null || path.Count == 0) return "empty path";
            int walk = (op == AttrOp.Append || op == AttrOp.Pop) ? path.Count : path.Count - 1;
            object cur = root;
            for (int i = 0; i < walk; i++)
            {
                cur = Step(cur, path[i]);
                if (cur == null) return "step " + i + " (" + path[i] + ") does not resolve";
            }
            object last = path[path.Count - 1];
            switch (op)
            {
                case AttrOp.Set:
                    {
                        var m = cur as Dictionary<string, object>;
                        if (m != null && last is string) { m[(string)last] = value; return null; }
                        var l = cur as List<object>;
                        if (l != null && last is long && (long)last < l.Count) { l[(int)(long)last] = value; return null; }
                        return "Set of " + last + " in neither a map nor a list that has it";
                    }
                case AttrOp.Delete:
                    {
                        var m = cur as Dictionary<string, object>;
                        if (m != null && last is string) { m.Remove((string)last); return null; }
                        return "Delete of " + last + " outside a map";
                    }
                case AttrOp.Append:
                    {
                        var l = cur as List<object>;
                        if (l == null) return "Append to something that is not a list";
                        l.Add(value);
                        return null;
                    }
                case AttrOp.Pop:
                    {
                        var l = cur as List<object>;
                        if (l == null) return "Pop of something that is not a list";
                        if (l.Count > 0) l.RemoveAt(l.Count - 1);
                        return null;
                    }
            }
            return "unknown op " + op;
        }

        static object Step(object cur, object step)
        {
            var m = cur as Dictionary<string, object>;
            if (m != null)
            {
                object v;
                var k = step as string;
                if (k != null && m.TryGetValue(k, out v) && (v is Dictionary<string, object> || v is List<object>)) return v;
                return null;
            }
            var l = cur as List<object>;
            if (l != null && step is long)
            {
                long i = (long)step;
                if (i >= 0 && i < l.Count && (l[(int)i] is Dictionary<string, object> || l[(int)i] is List<object>)) return l[(int)i];
            }
            return null;
        }
    }
}
