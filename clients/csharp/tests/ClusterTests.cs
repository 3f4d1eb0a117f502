// ClusterTests: a session of the C# client against a real in-process
// cluster, run by clients/csharp/cluster_test.go (TestAgainstCluster).
//
//   mono ClusterTests.exe HOST PORT WS_URL SPACE_ID HEARTBEAT_TIMEOUT_MS [kcp]
//
// Client a connects over TCP, client b over WebSocket; with "kcp", both
// over KCP (TestAgainstClusterKCP). Both play the boot entity CsTester.
// Prints "cluster: ok", or fails with the step.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text;
using System.Threading;
using GoWorld;

static class ClusterTests
{
    sealed class Tracked
    {
        public string Name;
        public GoWorldClient C;
        public readonly Queue<ClientCall> Calls = new Queue<ClientCall>();
        public readonly List<AttrChange> Changes = new List<AttrChange>();
        public string Disconnect;
    }

    static readonly List<Tracked> clients = new List<Tracked>();
    static readonly Stopwatch clock = Stopwatch.StartNew();

    static void Log(string s) { Console.WriteLine("[" + clock.ElapsedMilliseconds.ToString().PadLeft(6) + " ms] " + s); }

    static Tracked Track(string name, GoWorldClient c)
    {
        var t = new Tracked { Name = name, C = c };
        c.CallReceived += call => t.Calls.Enqueue(call);
        c.AttrChanged += ch => t.Changes.Add(ch);
        c.Disconnected += why => { t.Disconnect = why; Log(name + " disconnected: " + Cut(why)); };
        c.On("Error", call => { throw new Exception(name + ": the server said Error" + CodecDescribe(call.Args)); });
        clients.Add(t);
        return t;
    }

    static string Cut(string s) { return s == null ? "null" : s.Length > 100 ? s.Substring(0, 100) + "…" : s; }

    // Poll every client until cond holds, for at most ms.
    static void Until(string what, Func<bool> cond, int ms = 10000)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            foreach (var t in clients) t.C.Poll();
            if (cond()) return;
            if (sw.ElapsedMilliseconds > ms) throw new Exception("timed out after " + ms + " ms waiting for " + what);
            Thread.Sleep(2); // a game's frame
        }
    }

    static ClientCall Expect(Tracked t, string method)
    {
        ClientCall got = null;
        Until(t.Name + " to get " + method, () =>
        {
            while (got == null && t.Calls.Count > 0)
            {
                var c = t.Calls.Dequeue();
                if (c.Method == method) got = c;
            }
            if (t.Disconnect != null) throw new Exception(t.Name + " disconnected waiting for " + method + ": " + t.Disconnect);
            return got != null;
        });
        return got;
    }

    static void Check(bool ok, string what)
    {
        if (!ok) throw new Exception("check failed: " + what);
    }

    static void Equal(string got, string want, string what)
    {
        if (got != want) throw new Exception(what + ":\n  got  " + got + "\n  want " + want);
    }

    static Reply Request(Tracked t, string method, object[] args, int timeoutMs = 0)
    {
        Reply r = null;
        t.C.RequestPlayer(method, args, x => { if (r != null) throw new Exception("a second answer"); r = x; }, TimeSpan.FromMilliseconds(timeoutMs));
        Until(t.Name + "'s reply to " + method, () => r != null);
        return r;
    }

    static string CodecDescribe(object v) { return Describe(v); }

    // Describe: kind and exact bits, as CodecTests.Describe.
    static string Describe(object v)
    {
        if (v == null) return "nil";
        if (v is bool) return (bool)v ? "true" : "false";
        if (v is long) return "int(" + v + ")";
        if (v is ulong) return "uint(" + v + ")";
        if (v is double) return "f64(" + BitConverter.DoubleToInt64Bits((double)v).ToString("x16") + ")";
        if (v is float) return "f32(" + BitConverter.ToUInt32(BitConverter.GetBytes((float)v), 0).ToString("x8") + ")";
        if (v is string) return "str(" + (string)v + ")";
        if (v is byte[]) return "bin(" + BitConverter.ToString((byte[])v) + ")";
        var l = v as IList<object>;
        if (l != null)
        {
            var parts = new List<string>();
            foreach (var e in l) parts.Add(Describe(e));
            return "[" + string.Join(",", parts) + "]";
        }
        var m = v as IDictionary<string, object>;
        if (m != null)
        {
            var keys = new List<string>(m.Keys);
            keys.Sort(StringComparer.Ordinal);
            var parts = new List<string>();
            foreach (var k in keys) parts.Add(k + ":" + Describe(m[k]));
            return "{" + string.Join(",", parts) + "}";
        }
        return "unexpected " + v.GetType().Name;
    }

    static int Main(string[] args)
    {
        try
        {
            Run(args[0], int.Parse(args[1]), args[2], args[3], int.Parse(args[4]), args.Length > 5 && args[5] == "kcp");
        }
        catch (Exception e)
        {
            Console.WriteLine("FAIL: " + e);
            foreach (var t in clients) t.C.Close();
            return 1;
        }
        Console.WriteLine("cluster: ok");
        return 0;
    }

    static void Run(string host, int port, string wsUrl, string space, int heartbeatTimeoutMs, bool kcp)
    {
        // ---- connect over TCP (or KCP); the boot entity is the player
        var a = Track("a", kcp ? GoWorldClient.ConnectKcp(host, port) : GoWorldClient.ConnectTcp(host, port));
        Until("a's player", () => a.C.Player != null);
        Check(a.C.Player.Type == "CsTester" && a.C.Player.IsPlayer && !a.C.Player.HasPosition, "a's player: " + a.C.Player);
        Until("the gate's heartbeat interval", () => a.C.HeartbeatInterval < TimeSpan.FromSeconds(1));
        Log("a is " + a.C.Player + ", heartbeat every " + a.C.HeartbeatInterval.TotalMilliseconds + " ms");

        // ---- every kind of argument, echoed
        var echo = new List<object> {
            "héllo 世界 🎮", 42, -7, 2.5, 3.0, true, false, null,
            new List<object> { 1, "x", 1.5, new List<object> { 0.0 } },
            new Dictionary<string, object> { { "a", 1 }, { "b", new object[] { true } }, { "c", new Dictionary<string, object> { { "d", null } } }, { "e", "" } },
            new byte[] { 0, 255 }, 1L << 60, ulong.MaxValue, long.MinValue, (byte)255, 65536,
            0, -0.0, 1e300, double.NaN, double.NegativeInfinity, 0.25f,
        };
        a.C.CallPlayer("Echo", echo);
        var call = Expect(a, "OnEcho");
        Check(call.Entity == a.C.Player && !call.IsBroadcast, "OnEcho is for the player");
        // What comes back is what went, kinds included, except the float32:
        // an "any" parameter holds it as a float64 (protocol.md 7.3).
        var want = (List<object>)MsgPack.Decode(MsgPack.Encode(echo));
        want[want.Count - 1] = 0.25;
        Equal(Describe(call.Args[1]), Describe(want), "the echo");
        Log("echo: " + Cut((string)call.Args[0]));

        a.C.CallPlayer("Typed", "s", 5, 1.5, true, new List<object> { 1, 2 }, new Dictionary<string, object> { { "x", 0.5 } },
            new byte[] { 9 }, 200, 0.5f, null);
        call = Expect(a, "OnTyped");
        Equal(Describe(call.Args), "[str(s),int(5),f64(3ff8000000000000),true,[int(1),int(2)],{x:f64(3fe0000000000000)},bin(09),int(200),f32(3f000000),nil]",
            "typed parameters, sent back (the float32 as a float32)");

        // ---- attributes: every operation (17 changes; "secret" is for no
        // client), against the server's own copy
        a.C.CallPlayer("AttrScript");
        call = Expect(a, "OnAttrs");
        Equal(Describe(a.C.Player.Attrs["bag"]), Describe(call.Args[0]), "the client's bag against the server's");
        Check(a.C.Player.Attrs["hp"] is long && (long)a.C.Player.Attrs["hp"] == 99 && (long)call.Args[1] == 99, "hp 99");
        Check(!a.C.Player.Attrs.ContainsKey("secret"), "an attribute for no client reached the client");
        var ops = new HashSet<AttrOp>();
        foreach (var ch in a.Changes) ops.Add(ch.Op);
        Check(ops.Count == 4 && a.Changes.Count == 17, "every operation seen: " + a.Changes.Count + " changes, " + ops.Count + " kinds");
        Log("attrs: " + a.Changes.Count + " changes applied: " + Cut(Describe(a.C.Player.Attrs)));

        // ---- requests
        var r = Request(a, "Double", new object[] { 21 });
        Check(r.Ok && r.Result is long && (long)r.Result == 42, "Double(21) = 42, got " + r.Code + " " + Describe(r.Result));
        r = Request(a, "Refuse", new object[] { 7 });
        Check(r.Code == ReplyCode.User + 2 && r.Message == "refused 7", "Refuse: " + r.Code + " " + r.Message);
        r = Request(a, "Nope", null);
        Check(r.Code == ReplyCode.NoSuchMethod, "an unknown method: code " + r.Code);
        r = Request(a, "Double", new object[] { 2.5 });
        Check(r.Code == ReplyCode.BadArguments, "a float for an int: code " + r.Code);
        var sw = Stopwatch.StartNew();
        r = Request(a, "Hold", new object[] { 1000 }, 200);
        Check(r.Code == ReplyCode.Timeout && sw.ElapsedMilliseconds >= 190 && sw.ElapsedMilliseconds < 1000,
            "Hold(1000) with a 200 ms timeout: code " + r.Code + " after " + sw.ElapsedMilliseconds + " ms");
        // The late answer (after about 1 s) is dropped; the next request's
        // answer comes after it, to its own callback.
        r = Request(a, "Double", new object[] { 1 });
        Check(r.Ok && (long)r.Result == 2, "the request after a timed-out one");
        Log("requests: ok");

        // ---- a space with a second client, over WebSocket (or KCP)
        var b = Track("b", kcp ? GoWorldClient.ConnectKcp(host, port) : GoWorldClient.ConnectWebSocket(wsUrl));
        Until("b's player", () => b.C.Player != null);
        string aId = a.C.Player.Id, bId = b.C.Player.Id;
        b.C.CallPlayer("SetName", "bob");
        a.C.CallPlayer("SetName", "alice");
        a.C.CallPlayer("Enter", space, 1.0, 1.0);
        Until("a in the arena", () => a.C.SpaceId == space);
        Check(a.C.SpaceType == "CsArena" && a.C.Player.HasPosition && a.C.Player.Position.X == 1 && a.C.Player.Position.Z == 1,
            "a's space and position: " + a.C.SpaceType + " " + a.C.Player.Position);
        b.C.CallPlayer("Enter", space, 2.0, 2.0);
        Until("a and b see each other", () => b.C.SpaceId == space && a.C.Entities.ContainsKey(bId) && b.C.Entities.ContainsKey(aId));
        var bOnA = a.C.Entities[bId];
        var aOnB = b.C.Entities[aId];
        try
        {
            a.C.Entities.Remove(bId);
            Check(false, "Entities let the game remove an entity the client holds");
        }
        catch (NotSupportedException) { }
        Check(a.C.Entities.ContainsKey(bId), "Entities still holds b after a refused Remove");
        Check(!bOnA.IsPlayer && bOnA.Type == "CsTester" && bOnA.HasPosition && bOnA.Position.X == 2 && bOnA.Position.Z == 2,
            "b as a sees it: " + bOnA + " " + bOnA.Position);
        Check((string)aOnB.Attrs["name"] == "alice" && (long)aOnB.Attrs["hp"] == 99 && !aOnB.Attrs.ContainsKey("bag"),
            "a as b sees it (all-clients attributes only): " + Describe(aOnB.Attrs));
        Check(a.C.Player.Id == aId && b.C.Player.Id == bId, "the players stay");

        a.C.SyncPosition(new Position(3, 0.5f, 4, 0.75f));
        Until("b to see a move", () => aOnB.Position.X == 3 && aOnB.Position.Y == 0.5f && aOnB.Position.Z == 4 && aOnB.Position.Yaw == 0.75f);
        b.C.CallPlayer("Teleport", 2.5, 1.0, 2.5, 1.25f);
        Until("b to be told its own new position", () => b.C.Player.Position.X == 2.5f && b.C.Player.Position.Yaw == 1.25f);
        Until("a to see b teleported", () => bOnA.Position.X == 2.5f && bOnA.Position.Y == 1);
        b.C.CallPlayer("SetName", "bobby");
        Until("a to see b's new name", () => (string)bOnA.Attrs["name"] == "bobby");
        Log("space: both see each other, moves and names");

        // ---- a broadcast
        a.C.CallPlayer("Shout", "hi all");
        var sa = Expect(a, "OnShout");
        var sb = Expect(b, "OnShout");
        Check(sa.IsBroadcast && sb.IsBroadcast && sa.Entity == a.C.Player && sb.Entity == b.C.Player && (string)sb.Args[0] == "hi all",
            "the broadcast reaches each player");

        // ---- b leaves: a is told, b's view empties
        b.C.CallPlayer("Leave");
        Until("b out of the arena", () => b.C.SpaceId == null && !a.C.Entities.ContainsKey(bId) && b.C.Entities.Count == 1);

        // ---- heartbeats at the announced interval keep both connected
        // well past the gate's heartbeat_timeout.
        long idleUntil = clock.ElapsedMilliseconds + heartbeatTimeoutMs * 5 / 2;
        Until("idle past the gate's heartbeat timeout", () =>
        {
            Check(a.Disconnect == null && b.Disconnect == null, "disconnected while idle: " + a.Disconnect + " " + b.Disconnect);
            return clock.ElapsedMilliseconds >= idleUntil;
        }, heartbeatTimeoutMs * 5);
        Log("idle for " + (heartbeatTimeoutMs * 5 / 2) + " ms: still connected");

        // ---- a kick, with a long reason: cut to its bound
        string reason = "go away " + new string('k', 2000);
        b.C.CallPlayer("KickMe", reason);
        Until("b kicked", () => b.Disconnect != null);
        Equal(b.Disconnect, reason.Substring(0, GoWorldClient.MaxReasonLength) + "…", "the kick reason, cut");
        Check(b.C.KickReason == b.Disconnect && !b.C.IsConnected, "KickReason");
        try { b.C.CallPlayer("Shout", "after the kick"); throw new Exception("a call after the kick was sent"); }
        catch (InvalidOperationException) { }
        b.C.Close();

        // ---- a request still waiting when the client closes
        Reply held = null;
        a.C.RequestPlayer("Hold", new object[] { 300 }, x => held = x, TimeSpan.FromSeconds(10));
        sw = Stopwatch.StartNew();
        a.C.Close();
        Check(sw.ElapsedMilliseconds < 2000, "Close took " + sw.ElapsedMilliseconds + " ms");
        Until("a's disconnect", () => a.Disconnect != null && held != null);
        Equal(a.Disconnect, "closed by the client", "a's reason");
        Check(held.Code == ReplyCode.Disconnected, "a request waiting at Close: code " + held.Code);
        Check(a.C.Poll() == 0, "nothing after the disconnect");
    }
}
