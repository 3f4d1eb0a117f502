// AckTests: a resumable session's acks under load, run by
// clients/csharp/acks_test.go (TestResumeAcksNeverGoBackwards).
//
//   mono AckTests.exe HOST:PORT
//
// Connects with Resume, heartbeats every millisecond (each carries an
// ack when frames are new), and for 3 s polls and writes 30 KB calls
// while the Go gate streams session frames; then closes. The gate
// checks the acks. Prints "acks: ok" if the session was not ended.

using System;
using System.Diagnostics;
using GoWorld;

static class AckTests
{
    static int Main(string[] args)
    {
        string[] hp = args[0].Split(':');
        var c = GoWorldClient.ConnectTcp(hp[0], int.Parse(hp[1]), new ClientOptions
        {
            Resume = true,
            HeartbeatInterval = TimeSpan.FromMilliseconds(1),
            HeartbeatTimeout = TimeSpan.FromSeconds(30),
        });
        string reason = null;
        long data = 0;
        c.Disconnected += why => reason = why;
        c.UnhandledCall += call => data++;
        var payload = new byte[30000];
        var sw = Stopwatch.StartNew();
        int calls = 0;
        try
        {
            while (reason == null && sw.ElapsedMilliseconds < 3000)
            {
                c.Poll();
                // As fast as the network takes them: sends never wait,
                // and a send queue past its bound would end the session.
                if (c.Player != null && c.QueuedSendBytes < 256 << 10) { c.Call(c.Player.Id, "Ping", payload); calls++; }
            }
        }
        catch (Exception e) { Console.WriteLine("FAIL: " + e); }
        c.Close();
        c.Poll();
        Console.WriteLine(calls + " calls sent, " + data + " frames received; ended: " + reason);
        if (reason != "closed by the client") { Console.WriteLine("FAIL: the session ended with " + reason); return 1; }
        Console.WriteLine("acks: ok");
        return 0;
    }
}
