// WriterTests: the C# client's sends never wait for the network, its
// send queue is bounded, its frames keep their order across threads, the
// player's position is never torn, a frame's decoded values are bounded,
// and Close does not wait for a redial; against fake gates over real TCP,
// run by clients/csharp/writer_test.go.
//
//   mono WriterTests.exe HOST SCENARIO=PORT...
//
// Prints "RELEASE stall" when the stalled gate may read again (the Go
// side then lets it), and "writer: ok" at the end.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using GoWorld;

static class WriterTests
{
    static int failures;
    static string host;
    static readonly Dictionary<string, int> ports = new Dictionary<string, int>();

    static void Fail(string msg) { Interlocked.Increment(ref failures); Console.WriteLine("FAIL: " + msg); }

    static void Expect(string what, string got, string want)
    {
        if (got != want) Fail(what + ": got \"" + got + "\", want \"" + want + "\"");
        else Console.WriteLine(what + ": " + got);
    }

    // Connect connects to a scenario's gate and polls until the player
    // exists (10 s at most).
    static GoWorldClient Connect(string scenario, ClientOptions o)
    {
        var c = GoWorldClient.ConnectTcp(host, ports[scenario], o);
        var sw = Stopwatch.StartNew();
        while (c.Player == null && c.IsConnected && sw.ElapsedMilliseconds < 10000) { c.Poll(); Thread.Sleep(1); }
        if (c.Player == null) throw new Exception(scenario + ": no player in 10 s");
        return c;
    }

    // A call's padding: 60,000 bytes, under the 64 KiB a frame may carry.
    static readonly byte[] Pad = new byte[60000];

    // Stall: the gate reads nothing while the game sends 300 calls of
    // 60 KB (18 MB, more than the sockets hold): each Send returns at
    // once. Then the gate reads, and must get every call, in order (the
    // Go side checks); Close flushes them all before its MsgBye.
    static void Stall()
    {
        var c = Connect("stall", new ClientOptions { MaxSendQueueBytes = 64 << 20, CloseTimeout = TimeSpan.FromSeconds(60) });
        long worst = 0;
        var all = Stopwatch.StartNew();
        for (int i = 0; i < 300; i++)
        {
            var sw = Stopwatch.StartNew();
            c.CallPlayer("Seq", i, Pad);
            worst = Math.Max(worst, sw.ElapsedMilliseconds);
        }
        long total = all.ElapsedMilliseconds;
        if (worst >= 1000) Fail("stall: a Send took " + worst + " ms while the gate did not read");
        else Console.WriteLine("stall: 300 sends in " + total + " ms, the slowest " + worst + " ms");
        if (!c.IsConnected) Fail("stall: disconnected: " + c.DisconnectReason);
        Console.WriteLine("RELEASE stall");
        c.Close();
        Expect("stall close", c.DisconnectReason, "closed by the client");
    }

    // Bound: the gate never reads; calls go into the queue until it
    // passes MaxSendQueueBytes (1 MiB), then the session ends with the
    // documented reason. No Send waits, and the queue never holds much
    // more than the bound (what the sockets take aside).
    static void Bound()
    {
        var c = Connect("bound", new ClientOptions { MaxSendQueueBytes = 1 << 20 });
        string reason = null;
        c.Disconnected += why => reason = why;
        long worst = 0;
        int accepted = 0;
        Exception refused = null;
        long before = GC.GetTotalMemory(true);
        long peak = 0;
        for (int i = 0; i < 2000 && refused == null; i++)
        {
            var sw = Stopwatch.StartNew();
            try { c.CallPlayer("Seq", i, Pad); accepted++; }
            catch (Exception e) { refused = e; }
            worst = Math.Max(worst, sw.ElapsedMilliseconds);
            if (i % 16 == 0) peak = Math.Max(peak, GC.GetTotalMemory(false) - before);
        }
        for (int i = 0; i < 10 && reason == null; i++) c.Poll();
        c.Close();
        const string want = "send queue over 1048576 bytes (MaxSendQueueBytes): the network does not carry what the client sends";
        if (refused == null) { Fail("bound: 2000 calls of 60 KB accepted with the gate not reading"); return; }
        Expect("bound: the refused call's exception", refused.GetType().Name, "InvalidOperationException");
        Expect("bound", reason, want);
        if (worst >= 1000) Fail("bound: a Send took " + worst + " ms");
        // 1 MiB queued, one batch being written, and what the sockets
        // hold (the gate's receive buffer is small): far below 200 calls.
        if (accepted > 200) Fail("bound: " + accepted + " calls of 60 KB accepted before the queue's bound ended the session");
        else Console.WriteLine("bound: " + accepted + " calls accepted, then refused; the slowest send " + worst + " ms, memory grew " + (peak >> 20) + " MiB at most");
        if (peak > 128L << 20) Fail("bound: memory grew " + (peak >> 20) + " MiB");
    }

    // TwoThreads: two threads call at once, 3,000 calls each of varied
    // sizes (0 to 4 KB: 12 MB in all, within the queue's 64 MiB however
    // slowly the gate reads); the gate (Go) checks that every frame is
    // whole and each thread's calls arrive all, once, in its order.
    static void TwoThreads()
    {
        var c = Connect("twothreads", new ClientOptions { MaxSendQueueBytes = 64 << 20, CloseTimeout = TimeSpan.FromSeconds(60) });
        string id = c.Player.Id;
        Exception err = null;
        var threads = new Thread[2];
        for (int t = 0; t < 2; t++)
        {
            int th = t;
            threads[t] = new Thread(() =>
            {
                try
                {
                    for (int i = 0; i < 3000; i++) c.Call(id, "T", th, i, new byte[(i * 7919 + th * 13) % 4000]);
                }
                catch (Exception e) { err = e; }
            });
            threads[t].Start();
        }
        foreach (var t in threads) t.Join();
        if (err != null) Fail("twothreads: " + err);
        c.Close();
        Expect("twothreads close", c.DisconnectReason, "closed by the client");
    }

    static bool Whole(Position p) { return p.X == p.Y && p.Y == p.Z && p.Z == p.Yaw; }

    // Position: the gate sends the player's position (-k, -k, -k, -k) in
    // 20,000 frames while another thread calls SyncPosition(i, i, i, i)
    // and a third reads Position: no reader, Poll's or the others, ever
    // sees a position made of two. The last SyncPosition is the one kept.
    // Close flushes what the thread queued (up to 8 MB) before its
    // MsgBye, which the gate reads through (CloseTimeout 60 s).
    static void Position()
    {
        var c = Connect("position", new ClientOptions { MaxSendQueueBytes = 64 << 20, CloseTimeout = TimeSpan.FromSeconds(60) });
        var sw = Stopwatch.StartNew();
        while (c.SpaceId == null && sw.ElapsedMilliseconds < 10000) { c.Poll(); Thread.Sleep(1); }
        if (c.SpaceId == null) { Fail("position: no space in 10 s"); c.Close(); return; }
        var player = c.Player;
        int torn = 0, moved = 0, reads = 0;
        string example = null;
        c.EntityMoved += e =>
        {
            moved++;
            var p = e.Position;
            if (!Whole(p)) { Interlocked.Increment(ref torn); example = p.ToString(); }
        };
        bool done = false;
        Exception err = null;
        var syncer = new Thread(() =>
        {
            try
            {
                for (int i = 1; i <= 200000 && !Volatile.Read(ref done); i++) c.SyncPosition(new Position(i, i, i, i));
            }
            catch (Exception e) { err = e; }
        });
        var watcher = new Thread(() =>
        {
            while (!Volatile.Read(ref done))
            {
                var p = player.Position;
                Interlocked.Increment(ref reads);
                if (!Whole(p)) { Interlocked.Increment(ref torn); example = p.ToString(); }
            }
        });
        syncer.Start();
        watcher.Start();
        sw.Restart();
        while (moved < 20000 && c.IsConnected && sw.ElapsedMilliseconds < 30000)
        {
            c.Poll();
            if (!Whole(player.Position)) { torn++; example = player.Position.ToString(); }
        }
        Volatile.Write(ref done, true);
        syncer.Join();
        watcher.Join();
        if (err != null) Fail("position: SyncPosition threw " + err);
        if (moved < 20000) Fail("position: " + moved + " of 20000 positions applied in 30 s");
        if (torn > 0) Fail("position: " + torn + " torn positions, for example " + example);
        else Console.WriteLine("position: " + moved + " applied, " + reads + " reads on another thread, none torn");
        c.Poll(); // the last of the gate's positions: it sent no more
        var last = new Position(7, 8, 9, 1);
        c.SyncPosition(last);
        Expect("position: the last sent", player.Position.ToString() + " " + player.HasPosition, last.ToString() + " True");
        c.Close();
        Expect("position close", c.DisconnectReason, "closed by the client");
    }

    // Budget: a 16 MiB frame (the largest the gate sends) and a frame of
    // exactly MaxFrameValues values decode; a 2 MiB frame of two million
    // empty maps is refused, and ends the connection.
    static void Budget()
    {
        var c = GoWorldClient.ConnectTcp(host, ports["budget"]);
        var calls = new List<string>();
        string reason = null;
        c.CallReceived += call =>
        {
            object a = call.Args[0];
            if (a is byte[]) calls.Add(call.Method + " bin " + ((byte[])a).Length);
            else if (a is List<object>) calls.Add(call.Method + " array " + ((List<object>)a).Count);
            else calls.Add(call.Method + " " + a);
        };
        c.Disconnected += why => reason = why;
        var sw = Stopwatch.StartNew();
        while (reason == null && sw.ElapsedMilliseconds < 30000) { c.Poll(); Thread.Sleep(1); }
        c.Close();
        Expect("budget calls", string.Join("; ", calls), "Big bin " + ((16 << 20) - 27) + "; Full array " + (MsgPack.DefaultMaxValues - 2));
        Expect("budget", reason, "protocol error: CallClient args: more than 1048576 values in one frame (the client's MaxFrameValues)");
    }

    // Redial: a resumable session's connection drops and the gate's
    // listener takes no more connections (its backlog is full): the
    // client's dial waits for an answer that does not come
    // (ConnectTimeout 30 s). Close then returns at once.
    static void Redial()
    {
        var c = Connect("redial", new ClientOptions { Resume = true, ConnectTimeout = TimeSpan.FromSeconds(30) });
        string reconnecting = null;
        c.Reconnecting += why => reconnecting = why;
        var sw = Stopwatch.StartNew();
        while (reconnecting == null && sw.ElapsedMilliseconds < 10000) { c.Poll(); Thread.Sleep(1); }
        if (reconnecting == null) { Fail("redial: no Reconnecting in 10 s"); c.Close(); return; }
        // Not a synchronisation: Close must be prompt at any moment; the
        // pause makes it come while the dial waits, the moment that used
        // to cost a whole ConnectTimeout.
        Thread.Sleep(300);
        sw.Restart();
        c.Close();
        long ms = sw.ElapsedMilliseconds;
        Expect("redial", c.DisconnectReason, "closed by the client");
        if (ms > 2000) Fail("redial: Close took " + ms + " ms while the client redialled");
        else Console.WriteLine("redial: Close took " + ms + " ms");
    }

    static int Main(string[] args)
    {
        host = args[0];
        for (int i = 1; i < args.Length; i++)
        {
            string[] kv = args[i].Split('=');
            ports[kv[0]] = int.Parse(kv[1]);
        }
        var tests = new Dictionary<string, Action>
        {
            { "stall", Stall }, { "bound", Bound }, { "twothreads", TwoThreads },
            { "position", Position }, { "budget", Budget }, { "redial", Redial },
        };
        foreach (var kv in tests)
        {
            if (!ports.ContainsKey(kv.Key)) continue;
            try { kv.Value(); }
            catch (Exception e) { Fail(kv.Key + ": " + e); }
        }
        if (failures > 0) return 1;
        Console.WriteLine("writer: ok");
        return 0;
    }
}
