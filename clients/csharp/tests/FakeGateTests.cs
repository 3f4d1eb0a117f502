// FakeGateTests: the C# client against a fake gate over real TCP, for what
// a real gate never does, run by clients/csharp/fakegate_test.go.
//
//   mono FakeGateTests.exe HOST SCENARIO=PORT...
//
// Each scenario is a listener of its own. Prints "fakegate: ok".

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using GoWorld;

static class FakeGateTests
{
    static int failures;

    static void Fail(string msg) { failures++; Console.WriteLine("FAIL: " + msg); }

    // Run connects, polls until the client disconnects (at most 10 s),
    // and returns the reason; calls and entities are recorded.
    static string Run(string host, int port, List<string> events, Action<GoWorldClient> setup = null)
    {
        var c = GoWorldClient.ConnectTcp(host, port);
        string reason = null;
        c.EntityCreated += e => events.Add("create " + e.Id + " " + e.Type);
        c.CallReceived += call => events.Add("call " + call.Method + " " + call.Args.Count);
        c.EntityMoved += e => events.Add("moved " + e.Id + " " + e.Position);
        c.Disconnected += why => reason = why;
        if (setup != null) setup(c);
        var sw = Stopwatch.StartNew();
        while (reason == null && sw.ElapsedMilliseconds < 10000)
        {
            c.Poll();
            Thread.Sleep(2);
        }
        c.Close();
        if (reason == null) return "(still connected after 10 s)";
        return reason;
    }

    static void Expect(string what, string got, string want)
    {
        if (got != want) Fail(what + ": got \"" + got + "\", want \"" + want + "\"");
        else Console.WriteLine(what + ": " + got);
    }

    const string BootId = "AAECAwQFBgcICQoL";

    // Expire: two requests the gate never answers, then the end of the
    // stream. The first callback to run throws (out of Poll, as a
    // handler's exception does); each callback must still run exactly
    // once, with code Disconnected, and Disconnected come after them.
    static void Expire(string host, int port)
    {
        var c = GoWorldClient.ConnectTcp(host, port);
        var done = new List<string>();
        string reason = null;
        bool thrown = false;
        Action<Reply> cb = r =>
        {
            done.Add(r.RequestId + ":" + r.Code);
            if (!thrown) { thrown = true; throw new ApplicationException("the game's bug"); }
        };
        c.EntityCreated += e =>
        {
            c.RequestPlayer("Ping", null, cb);
            c.RequestPlayer("Ping", null, cb);
        };
        c.Disconnected += why => { reason = why; done.Add("disconnected"); };
        int caught = 0;
        var sw = Stopwatch.StartNew();
        while (reason == null && sw.ElapsedMilliseconds < 10000)
        {
            try { c.Poll(); }
            catch (ApplicationException) { caught++; }
            Thread.Sleep(2);
        }
        c.Close();
        done.Sort(StringComparer.Ordinal);
        Expect("expire", reason, "connection closed by the server");
        Expect("expire callbacks", string.Join(" ", done), "1:-1 2:-1 disconnected");
        if (caught != 1) Fail("expire: " + caught + " exceptions out of Poll, want 1");
    }

    // NoBye: the gate ends the stream instead of answering the client's
    // MsgBye; Close must return then, not wait out CloseTimeout (30 s).
    static void NoBye(string host, int port)
    {
        var c = GoWorldClient.ConnectTcp(host, port, new ClientOptions { CloseTimeout = TimeSpan.FromSeconds(30) });
        var sw = Stopwatch.StartNew();
        while (c.Player == null && sw.ElapsedMilliseconds < 10000) { c.Poll(); Thread.Sleep(2); }
        if (c.Player == null) { Fail("nobye: no player in 10 s"); c.Close(); return; }
        sw.Restart();
        c.Close();
        long ms = sw.ElapsedMilliseconds;
        Expect("nobye", c.DisconnectReason, "closed by the client");
        if (ms > 10000) Fail("nobye: Close took " + ms + " ms after the gate ended the stream (CloseTimeout 30 s)");
    }

    // Gone: the gate closes the socket while the client's reader waits
    // for room in its queue (MaxQueuedBytes 1, no Poll), so only a write
    // can see the connection is gone. Calls must then fail as the API
    // says, with InvalidOperationException (not an IOException from the
    // socket), the client closed, and Poll tell why.
    static void Gone(string host, int port)
    {
        var c = GoWorldClient.ConnectTcp(host, port, new ClientOptions { MaxQueuedBytes = 1 });
        Exception failed = null;
        var sw = Stopwatch.StartNew();
        while (failed == null && sw.ElapsedMilliseconds < 10000)
        {
            try { c.Call(BootId, "Ping"); }
            catch (Exception e) { failed = e; }
            Thread.Sleep(5);
        }
        bool connected = c.IsConnected;
        string reason = null;
        c.Disconnected += why => reason = why;
        for (int i = 0; i < 10 && reason == null; i++) c.Poll();
        c.Close();
        if (failed == null) { Fail("gone: calls still succeed 10 s after the gate closed"); return; }
        Expect("gone: the call's exception", failed.GetType().Name, "InvalidOperationException");
        if (connected) Fail("gone: still connected after a call failed");
        if (reason == null || !reason.StartsWith("connection lost: ")) Fail("gone: Disconnected said \"" + reason + "\", want \"connection lost: …\"");
        else Console.WriteLine("gone: " + reason);
    }

    static int Main(string[] args)
    {
        string host = args[0];
        var ports = new Dictionary<string, int>();
        for (int i = 1; i < args.Length; i++)
        {
            string[] kv = args[i].Split('=');
            ports[kv[0]] = int.Parse(kv[1]);
        }

        // The boot entity and a call split into single bytes, a position
        // in the same write as a kick: all applied, the kick last.
        var ev = new List<string>();
        Expect("split", Run(host, ports["split"], ev), "bye for now");
        Expect("split events", string.Join("; ", ev), "create AAECAwQFBgcICQoL Account; call OnHi 1; moved AAECAwQFBgcICQoL (1, 2, 3) yaw 0.5");

        // A gate that announces 100 ms heartbeats, then goes silent: taken
        // as gone after min(4 × 100 ms, 400 ms).
        ev.Clear();
        var sw = Stopwatch.StartNew();
        string why = Run(host, ports["silent"], ev);
        Expect("silent", why, "the server stopped answering");
        if (sw.ElapsedMilliseconds < 350) Fail("silent: given up after " + sw.ElapsedMilliseconds + " ms, before 400 ms of silence");

        ev.Clear();
        Expect("huge", Run(host, ports["huge"], ev), "protocol error: frame too large: 2147483645 bytes, limit 16777216");
        Expect("short", Run(host, ports["short"], ev), "protocol error: frame length below 2");
        Expect("unknown", Run(host, ports["unknown"], ev), "protocol error: unexpected message type 999");
        Expect("bye", Run(host, ports["bye"], ev), "closed by the server (MsgBye)");
        Expect("eof", Run(host, ports["eof"], ev), "connection closed by the server");
        Expect("truncated", Run(host, ports["truncated"], ev), "protocol error: truncated CreateEntity: 16 bytes needed, 3 left");
        Expect("diverge", Run(host, ports["diverge"], ev),
            "protocol error: attribute change of Account(AAECAwQFBgcICQoL) does not apply: step 0 (a) does not resolve");

        string longWhy = Run(host, ports["divergelong"], ev);
        string prefix = "protocol error: attribute change of Account(AAECAwQFBgcICQoL) does not apply: step 0 (kkk";
        if (!longWhy.StartsWith(prefix) || longWhy.Length > GoWorldClient.MaxReasonLength + 1)
            Fail("divergelong: a reason of " + longWhy.Length + " characters (at most " + (GoWorldClient.MaxReasonLength + 1) + "), beginning \"" + Protocol.Cut(longWhy, 100) + "\"");
        else Console.WriteLine("divergelong: a reason of " + longWhy.Length + " characters");

        Expire(host, ports["expire"]);
        NoBye(host, ports["nobye"]);
        Gone(host, ports["gone"]);

        // A clean close: MsgBye, the gate's MsgBye, and the socket closed.
        ev.Clear();
        string closed = Run(host, ports["close"], ev, c =>
        {
            c.EntityCreated += e => c.Close();
        });
        Expect("close", closed, "closed by the client");

        if (failures > 0) return 1;
        Console.WriteLine("fakegate: ok");
        return 0;
    }
}
