// KcpTests: the C# client's KCP (GoWorld.Kcp.cs), run by
// clients/csharp/kcp_test.go (TestKcp).
//
//   mono KcpTests.exe core HELLO_HEX COOKIE_HEX FUZZ_COUNT
//   mono KcpTests.exe handshake HOST forged=PORT version=PORT hostile=PORT silent=PORT
//
// core: the golden vectors of protocol.md 3.2 (HELLO_HEX and COOKIE_HEX
// are the server's encoding of them, for nonce 0x1122334455667788 and
// cookie 0x9abcdef1); pairs of KCP endpoints over a seeded lossy,
// reordering, duplicating link deliver every message once and in order;
// a message over the MSS is fragmented and reassembled; hostile
// datagrams are dropped; a bounded fuzz of Input. Prints "kcp core: ok".
//
// handshake: ConnectKcp against the Go test's fake gates: forged answers
// ignored until the dial times out with the documented message; a
// version mismatch refused at once; datagrams from another address,
// over the MTU, of another conv, with a huge frg or a length past the
// datagram dropped; a session the gate never answers given up after the
// dial timeout. Prints "kcp handshake: ok".

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using GoWorld;

static class KcpTests
{
    static void Check(bool ok, string what)
    {
        if (!ok) throw new Exception("check failed: " + what);
    }

    static string Hex(byte[] b)
    {
        var sb = new StringBuilder();
        foreach (var x in b) sb.Append(x.ToString("x2"));
        return sb.ToString();
    }

    static byte[] Unhex(string s)
    {
        var b = new byte[s.Length / 2];
        for (int i = 0; i < b.Length; i++) b[i] = Convert.ToByte(s.Substring(2 * i, 2), 16);
        return b;
    }

    static int Main(string[] args)
    {
        try
        {
            if (args[0] == "core") Core(args[1], args[2], int.Parse(args[3]));
            else Handshake(args);
        }
        catch (Exception e)
        {
            Console.WriteLine("FAIL: " + e);
            return 1;
        }
        Console.WriteLine("kcp " + args[0] + ": ok");
        return 0;
    }

    // ------------------------------------------------------------------
    // core

    static void Core(string helloHex, string cookieHex, int fuzzCount)
    {
        Golden(helloHex, cookieHex);
        Console.WriteLine("golden vectors: ok");
        for (int seed = 1; seed <= 3; seed++) LossyLink(seed);
        Fragmented();
        Console.WriteLine("fragmentation: ok");
        Hostile();
        Console.WriteLine("hostile datagrams: ok");
        Fuzz(fuzzCount);
    }

    static void Golden(string helloHex, string cookieHex)
    {
        const string docHello = "0000000047574b48010000008877665544332211000000000000000000000000";
        const string docCookie = "0000000047574b43010000008877665544332211f1debc9a";
        string hello = Hex(KcpHandshake.Hello(0x1122334455667788UL));
        Check(hello == docHello, "the hello for nonce 0x1122334455667788: " + hello + ", protocol.md says " + docHello);
        Check(hello == helloHex, "the hello: " + hello + ", the server's encoding " + helloHex);
        Check(cookieHex == docCookie, "the server's cookie answer " + cookieHex + ", protocol.md says " + docCookie);
        byte version, status;
        ulong nonce;
        uint cookie;
        var c = Unhex(docCookie);
        Check(KcpHandshake.TryParseCookie(c, c.Length, out version, out status, out nonce, out cookie), "the cookie answer parses");
        Check(version == 1 && status == KcpHandshake.StatusOk && nonce == 0x1122334455667788UL && cookie == 0x9abcdef1,
            "the cookie answer: version " + version + " status " + status + " nonce " + nonce.ToString("x") + " cookie " + cookie.ToString("x"));
        // Anything else is not an answer: another size, another magic, a hello.
        var longer = new byte[25];
        Array.Copy(c, longer, 24);
        Check(!KcpHandshake.TryParseCookie(longer, 25, out version, out status, out nonce, out cookie), "25 bytes taken for an answer");
        Check(!KcpHandshake.TryParseCookie(c, 23, out version, out status, out nonce, out cookie), "23 bytes taken for an answer");
        var magic = (byte[])c.Clone();
        magic[7] = (byte)'H';
        Check(!KcpHandshake.TryParseCookie(magic, 24, out version, out status, out nonce, out cookie), "GWKH taken for an answer");
        var conv = (byte[])c.Clone();
        conv[0] = 1;
        Check(!KcpHandshake.TryParseCookie(conv, 24, out version, out status, out nonce, out cookie), "a non-zero conv taken for an answer");
        Check(KcpHandshake.NewNonce() != KcpHandshake.NewNonce(), "two nonces alike");
    }

    // A link between two endpoints that loses, duplicates and delays
    // (and so reorders) datagrams, on a virtual clock, from a seed.
    sealed class Link
    {
        readonly Random rnd;
        readonly double loss, dup;
        readonly int maxDelay;
        public readonly List<KeyValuePair<long, byte[]>> InFlight = new List<KeyValuePair<long, byte[]>>();
        public long Now;
        public int Sent, Lost;

        public Link(Random rnd, double loss, double dup, int maxDelay)
        {
            this.rnd = rnd;
            this.loss = loss;
            this.dup = dup;
            this.maxDelay = maxDelay;
        }

        public void Put(byte[] buf, int n)
        {
            Sent++;
            Check(n <= 1400, "a datagram of " + n + " bytes, over the MTU");
            int copies = rnd.NextDouble() < dup ? 2 : 1;
            for (int i = 0; i < copies; i++)
            {
                if (rnd.NextDouble() < loss) { Lost++; continue; }
                var b = new byte[n];
                Buffer.BlockCopy(buf, 0, b, 0, n);
                InFlight.Add(new KeyValuePair<long, byte[]>(Now + 1 + rnd.Next(maxDelay), b));
            }
        }

        // Due returns the datagrams due now, in a random order.
        public List<byte[]> Due()
        {
            var due = new List<byte[]>();
            for (int i = InFlight.Count - 1; i >= 0; i--)
            {
                if (InFlight[i].Key > Now) continue;
                due.Insert(rnd.Next(due.Count + 1), InFlight[i].Value);
                InFlight.RemoveAt(i);
            }
            return due;
        }
    }

    static Kcp NewEnd(uint conv, Link to)
    {
        var k = new Kcp(conv, to.Put);
        k.SetNoDelay(1, 10, 2, true);
        k.SetWindow(128, 128);
        return k;
    }

    static byte[] Message(Random rnd, int i, int mss)
    {
        // Sizes from 1 byte to a few segments (fragmented), numbered.
        int size = 4 + (rnd.Next(4) == 0 ? rnd.Next(4 * mss) : rnd.Next(64));
        var b = new byte[size];
        rnd.NextBytes(b);
        b[0] = (byte)i; b[1] = (byte)(i >> 8); b[2] = (byte)(i >> 16); b[3] = (byte)(i >> 24);
        return b;
    }

    // LossyLink: 400 messages each way between two endpoints over a link
    // that loses 20% of the datagrams, duplicates 10% and delays each by
    // up to 60 ms; every message arrives once, intact and in order, and
    // neither end holds more than its windows allow.
    static void LossyLink(int seed)
    {
        const int count = 400;
        var rnd = new Random(seed);
        var ab = new Link(rnd, 0.2, 0.1, 60);
        var ba = new Link(rnd, 0.2, 0.1, 60);
        var a = NewEnd(42, ab);
        var b = NewEnd(42, ba);
        var sent = new[] { new List<byte[]>(), new List<byte[]>() };
        var got = new[] { new List<byte[]>(), new List<byte[]>() };
        var ends = new[] { a, b };
        var links = new[] { ab, ba };
        long now = 0;
        // Bounded: 10 minutes of virtual time, far more than needed.
        for (; now < 600000; now++)
        {
            ab.Now = ba.Now = now;
            for (int e = 0; e < 2; e++)
            {
                var k = ends[e];
                // Send while the window has room, as the transport does.
                while (sent[e].Count < count && k.WaitSnd < 2 * k.SendWindow)
                {
                    var m = Message(rnd, sent[e].Count, k.Mss);
                    Check(k.Send(m, 0, m.Length) == 0, "Send of " + m.Length + " bytes");
                    sent[e].Add(m);
                }
                k.Update((uint)now);
            }
            for (int e = 0; e < 2; e++)
            {
                var to = ends[1 - e];
                foreach (var d in links[e].Due())
                {
                    int r = to.Input(d, 0, d.Length);
                    Check(r == 0, "Input of a datagram from the peer: " + r);
                    to.Flush(true);
                }
                byte[] m;
                while ((m = to.Recv()) != null) got[1 - e].Add(m);
                Check(to.Held <= 2 * to.ReceiveWindow, "held " + to.Held + " segments");
            }
            if (got[0].Count == count && got[1].Count == count && a.WaitSnd == 0 && b.WaitSnd == 0) break;
        }
        for (int e = 0; e < 2; e++)
        {
            Check(got[1 - e].Count == count, "seed " + seed + ": " + got[1 - e].Count + " of " + count + " messages arrived after " + now + " ms");
            for (int i = 0; i < count; i++)
                Check(Hex(got[1 - e][i]) == Hex(sent[e][i]), "seed " + seed + ": message " + i + " arrived changed or out of order");
        }
        Check(!a.Dead && !b.Dead, "a dead link");
        Console.WriteLine("lossy link, seed " + seed + ": " + count + " messages each way in " + now + " virtual ms, " +
            (ab.Sent + ba.Sent) + " datagrams, " + (ab.Lost + ba.Lost) + " lost");
    }

    static void Fragmented()
    {
        var rnd = new Random(7);
        var ab = new Link(rnd, 0, 0, 1);
        var ba = new Link(rnd, 0, 0, 1);
        var a = NewEnd(9, ab);
        var b = NewEnd(9, ba);
        var m = new byte[5 * a.Mss + 17];
        rnd.NextBytes(m);
        Check(a.Send(m, 0, m.Length) == 0, "Send of 6 segments");
        a.Update(0);
        b.Update(0);
        var frgs = new List<int>();
        byte[] got = null;
        for (long now = 1; now < 1000 && got == null; now++)
        {
            ab.Now = ba.Now = now;
            foreach (var d in ab.Due())
            {
                for (int p = 0; p + Kcp.Overhead <= d.Length;)
                {
                    int len = BitConverter.ToInt32(d, p + 20);
                    if (d[p + 4] == Kcp.CmdPush) frgs.Add(d[p + 5]);
                    p += Kcp.Overhead + len;
                }
                Check(b.Input(d, 0, d.Length) == 0, "Input of a fragment");
                b.Flush(true);
            }
            foreach (var d in ba.Due()) a.Input(d, 0, d.Length);
            got = b.Recv();
            a.Update((uint)now);
            b.Update((uint)now);
        }
        // Sent in order, delivered in a random order (the link shuffles what is due together).
        frgs.Sort((x, y) => y - x);
        Check(string.Join(",", frgs) == "5,4,3,2,1,0", "the fragments' frg: " + string.Join(",", frgs));
        Check(got != null && Hex(got) == Hex(m), "the message of " + m.Length + " bytes, reassembled");
        // A message of 128 segments or more cannot be reassembled within
        // the peer's receive window: refused.
        var big = new byte[127 * a.Mss + 1];
        Check(a.Send(big, 0, big.Length) == -2, "a message of 128 segments accepted");
    }

    // Segment encodes one segment header (and data).
    static byte[] Segment(uint conv, byte cmd, byte frg, uint sn, uint una, byte[] data, int declaredLen = -1)
    {
        var b = new byte[Kcp.Overhead + data.Length];
        BitConverter.GetBytes(conv).CopyTo(b, 0);
        b[4] = cmd;
        b[5] = frg;
        b[6] = 128;
        BitConverter.GetBytes(sn).CopyTo(b, 12);
        BitConverter.GetBytes(una).CopyTo(b, 16);
        BitConverter.GetBytes(declaredLen >= 0 ? declaredLen : data.Length).CopyTo(b, 20);
        data.CopyTo(b, Kcp.Overhead);
        return b;
    }

    static void Hostile()
    {
        var link = new Link(new Random(1), 0, 0, 1);
        var k = NewEnd(5, link);
        k.Update(0);
        var ok = Encoding.ASCII.GetBytes("ok");
        var push = Segment(5, Kcp.CmdPush, 0, 0, 0, ok);
        Action<string, byte[], int> expect = (what, d, want) =>
        {
            int r = k.Input(d, 0, d.Length);
            Check(r == want, what + ": Input returned " + r + ", want " + want);
            Check(k.Recv() == null && k.Held == 0, what + ": something was delivered or held");
        };
        expect("a truncated header", push.Take(23), -1);
        expect("another conversation", Segment(6, Kcp.CmdPush, 0, 0, 0, ok), -1);
        expect("a length past the datagram", Segment(5, Kcp.CmdPush, 0, 0, 0, ok, 100), -2);
        expect("a length of 2 GiB", Segment(5, Kcp.CmdPush, 0, 0, 0, ok, -1 & 0x7fffffff), -2);
        expect("an unknown command", Segment(5, 99, 0, 0, 0, ok), -3);
        expect("frg 200, beyond the receive window", Segment(5, Kcp.CmdPush, 200, 0, 0, ok), -4);
        expect("frg 128", Segment(5, Kcp.CmdPush, 128, 0, 0, ok), -4);
        expect("an una beyond what was sent", Segment(5, Kcp.CmdAck, 0, 0, 1000, new byte[0]), -5);
        // Outside the receive window: taken and ignored.
        expect("sn 1000, outside the window", Segment(5, Kcp.CmdPush, 0, 1000, 0, ok), 0);
        expect("sn 2^31", Segment(5, Kcp.CmdPush, 0, 0x80000000, 0, ok), 0);
        // The message bound: a fragment whose count says more is dropped.
        k.MaxMessageSize = 2 * k.Mss;
        expect("frg 5 with a 2-segment message bound", Segment(5, Kcp.CmdPush, 5, 0, 0, ok), -4);
        // A good segment after a bad one in the same datagram is not taken.
        var two = new List<byte>(Segment(5, 99, 0, 0, 0, ok));
        two.AddRange(push);
        expect("a good segment after an unknown command", two.ToArray(), -3);
        // After all that, the endpoint works: a good segment is delivered.
        Check(k.Input(push, 0, push.Length) == 0, "a good segment refused");
        var m = k.Recv();
        Check(m != null && Encoding.ASCII.GetString(m) == "ok", "the good segment after the hostile ones");
    }

    static byte[] Take(this byte[] b, int n)
    {
        var r = new byte[n];
        Array.Copy(b, r, n);
        return r;
    }

    // Fuzz: mutated and random datagrams into an endpoint (that also
    // sends): never an exception, never more held than the windows, at
    // most 30 s.
    static void Fuzz(int count)
    {
        var rnd = new Random(12345);
        var link = new Link(rnd, 0, 0, 1);
        var k = NewEnd(5, link);
        var sw = Stopwatch.StartNew();
        var seeds = new List<byte[]> {
            Segment(5, Kcp.CmdPush, 0, 0, 0, new byte[] { 1, 2, 3 }),
            Segment(5, Kcp.CmdPush, 2, 1, 0, new byte[100]),
            Segment(5, Kcp.CmdAck, 0, 0, 0, new byte[0]),
            Segment(5, Kcp.CmdWask, 0, 0, 0, new byte[0]),
            Segment(5, Kcp.CmdWins, 0, 0, 0, new byte[0]),
        };
        int n = 0, taken = 0;
        for (; n < count && sw.ElapsedMilliseconds < 30000; n++)
        {
            byte[] d;
            if (rnd.Next(8) == 0)
            {
                d = new byte[rnd.Next(200)];
                rnd.NextBytes(d);
            }
            else
            {
                var s = seeds[rnd.Next(seeds.Count)];
                d = (byte[])s.Clone();
                for (int j = rnd.Next(1, 4); j > 0; j--) d[rnd.Next(d.Length)] = (byte)rnd.Next(256);
                if (rnd.Next(4) == 0) d[rnd.Next(4)] = 0; // the conv mostly right
                if (rnd.Next(3) == 0) { d[0] = 5; d[1] = d[2] = d[3] = 0; }
            }
            if (k.Input(d, 0, d.Length) == 0) taken++;
            k.Flush(true);
            while (k.Recv() != null) { }
            if (n % 50 == 0)
            {
                k.Send(new byte[] { 9 }, 0, 1);
                k.Update((uint)n);
            }
            Check(k.Held <= 2 * k.ReceiveWindow, "held " + k.Held + " segments");
        }
        Console.WriteLine("fuzz: " + n + " datagrams, " + taken + " taken whole, in " + sw.ElapsedMilliseconds + " ms");
    }

    // ------------------------------------------------------------------
    // handshake

    static void Handshake(string[] args)
    {
        string host = args[1];
        var ports = new Dictionary<string, int>();
        for (int i = 2; i < args.Length; i++)
        {
            var kv = args[i].Split('=');
            ports[kv[0]] = int.Parse(kv[1]);
        }

        // Forged answers (another nonce from the gate's address, our nonce
        // from another address) are ignored: the dial times out.
        var sw = Stopwatch.StartNew();
        try
        {
            GoWorldClient.ConnectKcp(host, ports["forged"], new ClientOptions { ConnectTimeout = TimeSpan.FromMilliseconds(1500) });
            throw new Exception("connected with a forged cookie");
        }
        catch (IOException e)
        {
            Console.WriteLine("forged: " + e.Message);
            Check(e.Message == "connect to " + host + ":" + ports["forged"] + " over KCP: KCP handshake with " + host + ":" + ports["forged"] +
                ": no answer within 1.5 s (the gate is down or unreachable, serves no KCP, is too busy, or is older than this client and has no handshake)",
                "the timeout's message: " + e.Message);
            Check(sw.ElapsedMilliseconds >= 1400 && sw.ElapsedMilliseconds < 5000, "the dial gave up after " + sw.ElapsedMilliseconds + " ms");
        }

        // A gate that speaks another version: refused at once, saying so.
        sw = Stopwatch.StartNew();
        try
        {
            GoWorldClient.ConnectKcp(host, ports["version"], new ClientOptions { ConnectTimeout = TimeSpan.FromSeconds(5) });
            throw new Exception("connected to a gate of another handshake version");
        }
        catch (IOException e)
        {
            Console.WriteLine("version: " + e.Message);
            Check(e.Message.Contains("the gate speaks handshake version 2 (status 1), this client 1: update the client"), "the version message: " + e.Message);
            Check(sw.ElapsedMilliseconds < 2500, "the version mismatch took " + sw.ElapsedMilliseconds + " ms");
        }

        // Datagrams the transport must drop (from another address, over
        // the MTU, another conv, frg 200, a length past the datagram),
        // each a kick; then the gate's real kick.
        sw = Stopwatch.StartNew();
        var h = GoWorldClient.ConnectKcp(host, ports["hostile"], new ClientOptions { ConnectTimeout = TimeSpan.FromSeconds(5) });
        string kicked = null;
        h.Disconnected += r => kicked = r;
        while (kicked == null && sw.ElapsedMilliseconds < 10000)
        {
            h.Poll();
            System.Threading.Thread.Sleep(5);
        }
        Console.WriteLine("hostile: " + kicked);
        Check(kicked == "the real kick" && h.KickReason == "the real kick", "the hostile gate's session ended with: " + kicked);
        h.Close();

        // A gate that gives a cookie (on the second hello) and then never
        // answers the session: the client gives up after the dial timeout.
        sw = Stopwatch.StartNew();
        var c = GoWorldClient.ConnectKcp(host, ports["silent"], new ClientOptions { ConnectTimeout = TimeSpan.FromMilliseconds(1500) });
        string why = null;
        c.Disconnected += r => why = r;
        // Calls of 60 KB fill KCP's send window (nothing is acknowledged):
        // the writer thread's write that waits for room fails when the
        // session is given up, rather than wait forever. The calls keep
        // the send queue under its bound (QueuedSendBytes), so that the
        // session ends for its silence, not for the queue.
        var big = new string('x', 60000);
        int calls = 0;
        while (why == null && sw.ElapsedMilliseconds < 10000)
        {
            try
            {
                if (c.QueuedSendBytes < 1 << 20) { c.Call("AAAAAAAAAAAAAAAA", "Fill", big); calls++; }
            }
            catch (InvalidOperationException) { }
            c.Poll();
            System.Threading.Thread.Sleep(5);
        }
        Console.WriteLine("silent: " + why + " (" + calls + " calls of 60 KB written, " + sw.ElapsedMilliseconds + " ms)");
        Check(why == "connection lost: no answer from the gate within 1.5 s of the KCP handshake", "the silent session's reason: " + why);
        Check(calls >= 5, calls + " calls written before the window was full");
        c.Close();
    }
}
