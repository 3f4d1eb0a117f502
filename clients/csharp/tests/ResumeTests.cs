// ResumeTests: a resumable session (protocol.md 8.1) of the C# client,
// through a proxy that the Go test cuts, run by
// clients/csharp/resume_test.go (TestResumeAcrossACut).
//
//   mono ResumeTests.exe HOST PORT [kcp]
//
// With "kcp", over KCP (TestResumeAcrossACutKCP: the Go test's UDP relay
// goes dark, and the client notices by its heartbeats).
// It prints "CUT" and waits for a line on standard input (the Go test
// has cut every connection and refuses new ones), sends while cut,
// prints "HEAL" and waits again (the Go test lets connections through),
// then checks that every call and every answer arrived once, in order.
// Prints "resume: ok".

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using GoWorld;

static class ResumeTests
{
    static GoWorldClient c;
    static readonly List<long> moved = new List<long>();
    static int reconnecting, reconnected;
    static string disconnected;

    static void Until(string what, Func<bool> cond, int ms = 20000)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            c.Poll();
            if (cond()) return;
            if (disconnected != null) throw new Exception("disconnected waiting for " + what + ": " + disconnected);
            if (sw.ElapsedMilliseconds > ms) throw new Exception("timed out after " + ms + " ms waiting for " + what);
            Thread.Sleep(2);
        }
    }

    static void Step(string say)
    {
        Console.WriteLine(say);
        Console.Out.Flush();
        if (Console.In.ReadLine() == null) throw new Exception("no answer to " + say);
    }

    static int Main(string[] args)
    {
        try
        {
            var opts = new ClientOptions { Resume = true };
            bool kcp = args.Length > 2 && args[2] == "kcp";
            c = kcp ? GoWorldClient.ConnectKcp(args[0], int.Parse(args[1]), opts) : GoWorldClient.ConnectTcp(args[0], int.Parse(args[1]), opts);
            c.On("OnMoved", call => moved.Add((long)call.Args[0]));
            c.Reconnecting += why => { reconnecting++; Console.WriteLine("reconnecting: " + why); };
            c.Reconnected += () => { reconnected++; Console.WriteLine("reconnected"); };
            c.Disconnected += why => disconnected = why;
            Until("the player", () => c.Player != null);
            if (!c.IsResumable) throw new Exception("the session is not resumable");
            string id = c.Player.Id;

            for (int i = 1; i <= 20; i++) c.CallPlayer("Move", i);
            Until("OnMoved 1-20", () => moved.Count == 20);

            Step("CUT");
            // Sent while the connection is being cut: kept, and resent by the resume.
            for (int i = 21; i <= 40; i++) c.CallPlayer("Move", i);
            Until("the drop to be noticed", () => reconnecting > 0);
            Step("HEAL");
            Until("the resume", () => reconnected > 0);
            Until("OnMoved 21-40", () => moved.Count >= 40);
            // And a little more on the resumed connection.
            for (int i = 41; i <= 45; i++) c.CallPlayer("Move", i);
            Until("OnMoved 41-45", () => moved.Count >= 45);
            for (int i = 0; i < moved.Count; i++)
                if (moved[i] != i + 1) throw new Exception("OnMoved out of order or repeated: " + string.Join(",", moved));
            if (moved.Count != 45) throw new Exception(moved.Count + " OnMoved, want 45");
            if (c.Player == null || c.Player.Id != id) throw new Exception("the player changed across the resume");
            if (reconnected != 1) throw new Exception(reconnected + " resumes, want 1");

            c.Close();
            c.Poll();
            if (disconnected != "closed by the client") throw new Exception("closed with " + disconnected);
        }
        catch (Exception e)
        {
            Console.WriteLine("FAIL: " + e);
            if (c != null) c.Close();
            return 1;
        }
        Console.WriteLine("resume: ok");
        return 0;
    }
}
