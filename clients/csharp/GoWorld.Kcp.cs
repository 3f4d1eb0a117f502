// GoWorld.Kcp.cs: KCP for the goworld C# client (docs/protocol.md, 3.2):
// a port of the ikcp algorithm (Kcp), the gate's cookie handshake
// (KcpHandshake) and the transport that carries the client's frames over
// them (KcpTransport, used by GoWorldClient.ConnectKcp).
//
// Part of the goworld C# client (clients/csharp). C# 7, no dependencies:
// System.Net.Sockets UDP only, which Unity (Mono and IL2CPP) has on every
// platform but WebGL.

using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Threading;

namespace GoWorld
{
    /// <summary>
    /// One end of a KCP conversation: a port of ikcp (the algorithm kcp-go,
    /// and so the gate, implements) in message mode: segments, una and
    /// ack lists, retransmission with the no-delay RTO, fast resend,
    /// window probes, fragmentation and reassembly of messages, and the
    /// receive window. Not thread-safe: the caller serialises every call.
    ///
    /// Input is hostile-proof: a datagram shorter than a header, a segment
    /// whose length runs past the datagram, an unknown command, another
    /// conversation ID, a fragment count that could never be reassembled
    /// within the receive window or the message bound, or an una beyond
    /// what was sent is dropped (Input returns a negative code); what is
    /// kept is bounded by the windows. Exposed for tests and tools.
    /// </summary>
    public sealed class Kcp
    {
        /// <summary>The segment header's size in bytes.</summary>
        public const int Overhead = 24;
        /// <summary>Segment commands: data, acknowledgement, window probe, window size.</summary>
        public const byte CmdPush = 81, CmdAck = 82, CmdWask = 83, CmdWins = 84;

        const int RtoNoDelay = 30, RtoMin = 100, RtoDefault = 200, RtoMax = 60000;
        const int AskSend = 1, AskTell = 2;
        const int ThreshInit = 2, ThreshMin = 2;
        const int ProbeInit = 7000, ProbeLimit = 120000;
        const int FastAckLimit = 5;

        sealed class Segment
        {
            public uint Conv, Ts, Sn, Una, ResendTs, Rto, FastAck, Xmit;
            public byte Cmd, Frg;
            public ushort Wnd;
            public byte[] Data;
        }

        readonly uint conv;
        readonly Action<byte[], int> output;
        int mtu = 1400, mss = 1400 - Overhead;
        uint sndUna, sndNxt, rcvNxt;
        uint ssthresh = ThreshInit;
        int rxRttval, rxSrtt, rxRto = RtoDefault, rxMinRto = RtoMin;
        uint sndWnd = 32, rcvWnd = 128, rmtWnd = 128, cwnd, incr, probe;
        uint current, interval = 100, tsFlush = 100;
        bool updated, noCwnd;
        uint tsProbe, probeWait;
        int nodelay, fastResend;
        uint deadLink = 20;
        int state;
        byte[] buffer;
        readonly List<Segment> sndQueue = new List<Segment>();
        readonly List<Segment> sndBuf = new List<Segment>();
        readonly List<Segment> rcvQueue = new List<Segment>();
        readonly List<Segment> rcvBuf = new List<Segment>();
        readonly List<uint> ackList = new List<uint>(); // sn, ts pairs
        int maxMessage;

        /// <summary>
        /// A conversation conv whose datagrams go to output (the buffer and
        /// its length; the buffer is reused after output returns).
        /// </summary>
        public Kcp(uint conv, Action<byte[], int> output)
        {
            if (output == null) throw new ArgumentNullException("output");
            this.conv = conv;
            this.output = output;
            buffer = new byte[(mtu + Overhead) * 3];
            maxMessage = (int)rcvWnd * mss;
        }

        /// <summary>The conversation ID.</summary>
        public uint Conv { get { return conv; } }
        /// <summary>The largest datagram sent (default 1400).</summary>
        public int Mtu { get { return mtu; } }
        /// <summary>The most payload bytes in one segment: Mtu − 24.</summary>
        public int Mss { get { return mss; } }
        /// <summary>Segments sent or queued and not yet acknowledged.</summary>
        public int WaitSnd { get { return sndBuf.Count + sndQueue.Count; } }
        /// <summary>The send window, in segments.</summary>
        public int SendWindow { get { return (int)sndWnd; } }
        /// <summary>The receive window, in segments.</summary>
        public int ReceiveWindow { get { return (int)rcvWnd; } }
        /// <summary>Segments held for reassembly or reading (at most twice the receive window).</summary>
        public int Held { get { return rcvBuf.Count + rcvQueue.Count; } }
        /// <summary>Whether a segment went unacknowledged through the dead-link count of transmissions (20).</summary>
        public bool Dead { get { return state < 0; } }

        /// <summary>
        /// The largest message accepted (default and upper bound: receive
        /// window × MSS). A fragment whose count says its message would be
        /// larger is dropped.
        /// </summary>
        public int MaxMessageSize
        {
            get { return maxMessage; }
            set { maxMessage = Math.Max(mss, Math.Min(value, (int)rcvWnd * mss)); }
        }

        /// <summary>Sets the MTU (50 to 64 KiB); call before sending.</summary>
        public void SetMtu(int value)
        {
            if (value < 50 || value > 65536) throw new ArgumentOutOfRangeException("value");
            mtu = value;
            mss = mtu - Overhead;
            buffer = new byte[(mtu + Overhead) * 3];
            maxMessage = (int)rcvWnd * mss;
        }

        /// <summary>
        /// ikcp_nodelay: nodelay (0 off, 1 on: the minimum RTO is 30 ms
        /// and backs off by half), the update interval in milliseconds
        /// (10 to 5000), fast resend after that many later acks (0 off),
        /// and whether congestion control is off. The gate: 1, 10, 2, true.
        /// </summary>
        public void SetNoDelay(int nodelay, int intervalMs, int resend, bool noCongestionControl)
        {
            this.nodelay = nodelay;
            rxMinRto = nodelay != 0 ? RtoNoDelay : RtoMin;
            interval = (uint)Math.Min(Math.Max(intervalMs, 10), 5000);
            fastResend = Math.Max(resend, 0);
            noCwnd = noCongestionControl;
        }

        /// <summary>ikcp_wndsize: the send and receive windows in segments (the gate: 128, 128).</summary>
        public void SetWindow(int send, int receive)
        {
            if (send > 0) sndWnd = (uint)Math.Min(send, 4096);
            if (receive > 0) rcvWnd = (uint)Math.Min(Math.Max(receive, 128), 4096);
            maxMessage = Math.Min(maxMessage, (int)rcvWnd * mss);
        }

        // ------------------------------------------------------------
        // Sending

        /// <summary>
        /// Queues a message of len bytes (message mode: split into at most
        /// 255 fragments, each of at most Mss bytes, fewer than the receive
        /// window). Returns 0, or −2 if it is too large.
        /// </summary>
        public int Send(byte[] buf, int off, int len)
        {
            if (len < 0) return -1;
            int count = len <= mss ? 1 : (len + mss - 1) / mss;
            if (count >= (int)Math.Min(rcvWnd, 256)) return -2;
            for (int i = 0; i < count; i++)
            {
                int size = Math.Min(len, mss);
                var seg = new Segment { Data = new byte[size], Frg = (byte)(count - i - 1) };
                Buffer.BlockCopy(buf, off, seg.Data, 0, size);
                sndQueue.Add(seg);
                off += size;
                len -= size;
            }
            return 0;
        }

        // ------------------------------------------------------------
        // Receiving

        /// <summary>The size of the next whole message, or −1 if none is ready.</summary>
        public int PeekSize()
        {
            if (rcvQueue.Count == 0) return -1;
            var first = rcvQueue[0];
            if (first.Frg == 0) return first.Data.Length;
            if (rcvQueue.Count < first.Frg + 1) return -1;
            int length = 0;
            foreach (var seg in rcvQueue)
            {
                length += seg.Data.Length;
                if (seg.Frg == 0) break;
            }
            return length;
        }

        /// <summary>The next whole message, or null if none is ready.</summary>
        public byte[] Recv()
        {
            int size = PeekSize();
            if (size < 0) return null;
            var msg = new byte[size];
            bool recover = rcvQueue.Count >= rcvWnd;
            int got = 0, n = 0;
            foreach (var seg in rcvQueue)
            {
                Buffer.BlockCopy(seg.Data, 0, msg, got, seg.Data.Length);
                got += seg.Data.Length;
                n++;
                if (seg.Frg == 0) break;
            }
            rcvQueue.RemoveRange(0, n);
            MoveReady();
            // The window opened again: tell the peer at once.
            if (rcvQueue.Count < rcvWnd && recover) probe |= AskTell;
            return msg;
        }

        void MoveReady()
        {
            int n = 0;
            while (n < rcvBuf.Count && rcvBuf[n].Sn == rcvNxt && rcvQueue.Count < rcvWnd)
            {
                rcvQueue.Add(rcvBuf[n]);
                rcvNxt++;
                n++;
            }
            if (n > 0) rcvBuf.RemoveRange(0, n);
        }

        /// <summary>
        /// Feeds a datagram from the peer. Returns 0 when every segment was
        /// taken (duplicates and segments outside the window are taken and
        /// ignored, as ikcp does), or why the rest was dropped: −1 too short
        /// or another conversation, −2 a length past the datagram, −3 an
        /// unknown command, −4 a fragment count that can never be
        /// reassembled, −5 an una beyond what was sent. Segments before a
        /// bad one have been taken.
        /// </summary>
        public int Input(byte[] data, int off, int size)
        {
            if (data == null || size < Overhead) return -1;
            uint prevUna = sndUna, maxAck = 0, latestTs = 0;
            bool gotAck = false;
            int result = 0;
            while (size >= Overhead)
            {
                uint sconv = U32(data, off);
                if (sconv != conv) { result = -1; break; }
                byte cmd = data[off + 4], frg = data[off + 5];
                ushort wnd = (ushort)(data[off + 6] | (data[off + 7] << 8));
                uint ts = U32(data, off + 8), sn = U32(data, off + 12), una = U32(data, off + 16), len = U32(data, off + 20);
                off += Overhead;
                size -= Overhead;
                if (len > (uint)size) { result = -2; break; }
                if (cmd != CmdPush && cmd != CmdAck && cmd != CmdWask && cmd != CmdWins) { result = -3; break; }
                // The peer's una is its next expected sn: never past ours.
                if (Diff(una, sndNxt) > 0) { result = -5; break; }
                if (cmd == CmdPush && (frg >= rcvWnd || (frg + 1L) * mss > maxMessage)) { result = -4; break; }
                rmtWnd = wnd;
                ParseUna(una);
                ShrinkBuf();
                if (cmd == CmdAck)
                {
                    if (Diff(current, ts) >= 0) UpdateAck(Diff(current, ts));
                    ParseAck(sn);
                    ShrinkBuf();
                    if (!gotAck) { gotAck = true; maxAck = sn; latestTs = ts; }
                    else if (Diff(sn, maxAck) > 0) { maxAck = sn; latestTs = ts; }
                }
                else if (cmd == CmdPush)
                {
                    if (Diff(sn, rcvNxt + rcvWnd) < 0)
                    {
                        // Acks wait for the next flush; bounded (a peer
                        // whose ack is dropped here resends the segment).
                        if (ackList.Count < 8 * (int)rcvWnd)
                        {
                            ackList.Add(sn);
                            ackList.Add(ts);
                        }
                        if (Diff(sn, rcvNxt) >= 0)
                        {
                            var seg = new Segment { Conv = sconv, Cmd = cmd, Frg = frg, Wnd = wnd, Ts = ts, Sn = sn, Una = una, Data = new byte[len] };
                            Buffer.BlockCopy(data, off, seg.Data, 0, (int)len);
                            ParseData(seg);
                        }
                    }
                }
                else if (cmd == CmdWask)
                {
                    probe |= AskTell; // answer with our window
                }
                off += (int)len;
                size -= (int)len;
            }
            if (gotAck) ParseFastAck(maxAck, latestTs);
            if (Diff(sndUna, prevUna) > 0 && cwnd < rmtWnd)
            {
                uint mss32 = (uint)mss;
                if (cwnd < ssthresh)
                {
                    cwnd++;
                    incr += mss32;
                }
                else
                {
                    if (incr < mss32) incr = mss32;
                    incr += (mss32 * mss32) / incr + (mss32 / 16);
                    if ((cwnd + 1) * mss32 <= incr) cwnd = (incr + mss32 - 1) / (mss32 > 0 ? mss32 : 1);
                }
                if (cwnd > rmtWnd)
                {
                    cwnd = rmtWnd;
                    incr = rmtWnd * mss32;
                }
            }
            return result;
        }

        void UpdateAck(int rtt)
        {
            if (rxSrtt == 0)
            {
                rxSrtt = rtt;
                rxRttval = rtt / 2;
            }
            else
            {
                int delta = Math.Abs(rtt - rxSrtt);
                rxRttval = (3 * rxRttval + delta) / 4;
                rxSrtt = (7 * rxSrtt + rtt) / 8;
                if (rxSrtt < 1) rxSrtt = 1;
            }
            int rto = rxSrtt + Math.Max((int)interval, 4 * rxRttval);
            rxRto = Math.Min(Math.Max(rto, rxMinRto), RtoMax);
        }

        void ShrinkBuf() { sndUna = sndBuf.Count > 0 ? sndBuf[0].Sn : sndNxt; }

        void ParseAck(uint sn)
        {
            if (Diff(sn, sndUna) < 0 || Diff(sn, sndNxt) >= 0) return;
            for (int i = 0; i < sndBuf.Count; i++)
            {
                if (sn == sndBuf[i].Sn) { sndBuf.RemoveAt(i); break; }
                if (Diff(sn, sndBuf[i].Sn) < 0) break;
            }
        }

        void ParseUna(uint una)
        {
            int n = 0;
            while (n < sndBuf.Count && Diff(una, sndBuf[n].Sn) > 0) n++;
            if (n > 0) sndBuf.RemoveRange(0, n);
        }

        void ParseFastAck(uint sn, uint ts)
        {
            if (Diff(sn, sndUna) < 0 || Diff(sn, sndNxt) >= 0) return;
            foreach (var seg in sndBuf)
            {
                if (Diff(sn, seg.Sn) < 0) break;
                if (sn != seg.Sn) seg.FastAck++;
            }
        }

        void ParseData(Segment seg)
        {
            uint sn = seg.Sn;
            if (Diff(sn, rcvNxt + rcvWnd) >= 0 || Diff(sn, rcvNxt) < 0) return;
            // Find its place from the end (segments mostly come in order).
            int i = rcvBuf.Count - 1;
            for (; i >= 0; i--)
            {
                if (rcvBuf[i].Sn == sn) return; // a duplicate
                if (Diff(sn, rcvBuf[i].Sn) > 0) break;
            }
            rcvBuf.Insert(i + 1, seg);
            MoveReady();
        }

        // ------------------------------------------------------------
        // Flushing and timing

        int WndUnused() { return rcvQueue.Count < rcvWnd ? (int)rcvWnd - rcvQueue.Count : 0; }

        /// <summary>
        /// Sends what is due: acknowledgements, window probes and, unless
        /// ackOnly, new and retransmitted data. Update calls it every
        /// interval; call it after Input (acks at once) and after Send.
        /// </summary>
        public void Flush(bool ackOnly = false)
        {
            if (!updated) return;
            int ptr = 0;
            var seg = new Segment { Conv = conv, Cmd = CmdAck, Wnd = (ushort)WndUnused(), Una = rcvNxt };
            for (int i = 0; i < ackList.Count; i += 2)
            {
                if (ptr + Overhead > mtu) { output(buffer, ptr); ptr = 0; }
                seg.Sn = ackList[i];
                seg.Ts = ackList[i + 1];
                ptr = Encode(seg, buffer, ptr, 0);
            }
            ackList.Clear();
            if (ackOnly)
            {
                if (ptr > 0) output(buffer, ptr);
                return;
            }

            // Probe the peer's window while it is zero.
            if (rmtWnd == 0)
            {
                if (probeWait == 0)
                {
                    probeWait = ProbeInit;
                    tsProbe = current + probeWait;
                }
                else if (Diff(current, tsProbe) >= 0)
                {
                    if (probeWait < ProbeInit) probeWait = ProbeInit;
                    probeWait += probeWait / 2;
                    if (probeWait > ProbeLimit) probeWait = ProbeLimit;
                    tsProbe = current + probeWait;
                    probe |= AskSend;
                }
            }
            else
            {
                tsProbe = 0;
                probeWait = 0;
            }
            if ((probe & AskSend) != 0)
            {
                seg.Cmd = CmdWask;
                if (ptr + Overhead > mtu) { output(buffer, ptr); ptr = 0; }
                ptr = Encode(seg, buffer, ptr, 0);
            }
            if ((probe & AskTell) != 0)
            {
                seg.Cmd = CmdWins;
                if (ptr + Overhead > mtu) { output(buffer, ptr); ptr = 0; }
                ptr = Encode(seg, buffer, ptr, 0);
            }
            probe = 0;

            // Move queued messages into the window.
            uint cw = Math.Min(sndWnd, rmtWnd);
            if (!noCwnd) cw = Math.Min(cwnd, cw);
            int moved = 0;
            while (Diff(sndNxt, sndUna + cw) < 0 && moved < sndQueue.Count)
            {
                var s = sndQueue[moved++];
                s.Conv = conv;
                s.Cmd = CmdPush;
                s.Wnd = seg.Wnd;
                s.Ts = current;
                s.Sn = sndNxt++;
                s.Una = rcvNxt;
                s.ResendTs = current;
                s.Rto = (uint)rxRto;
                s.FastAck = 0;
                s.Xmit = 0;
                sndBuf.Add(s);
            }
            if (moved > 0) sndQueue.RemoveRange(0, moved);

            uint resent = fastResend > 0 ? (uint)fastResend : 0xffffffff;
            uint rtomin = nodelay == 0 ? (uint)(rxRto >> 3) : 0;
            bool change = false, lost = false;
            foreach (var s in sndBuf)
            {
                bool send = false;
                if (s.Xmit == 0)
                {
                    send = true;
                    s.Xmit++;
                    s.Rto = (uint)rxRto;
                    s.ResendTs = current + s.Rto + rtomin;
                }
                else if (Diff(current, s.ResendTs) >= 0)
                {
                    send = true;
                    s.Xmit++;
                    if (nodelay == 0) s.Rto += Math.Max(s.Rto, (uint)rxRto);
                    else s.Rto += (nodelay < 2 ? s.Rto : (uint)rxRto) / 2;
                    s.Rto = Math.Min(s.Rto, RtoMax);
                    s.ResendTs = current + s.Rto;
                    lost = true;
                }
                else if (s.FastAck >= resent)
                {
                    if (s.Xmit <= FastAckLimit)
                    {
                        send = true;
                        s.Xmit++;
                        s.FastAck = 0;
                        s.ResendTs = current + s.Rto;
                        change = true;
                    }
                }
                if (send)
                {
                    s.Ts = current;
                    s.Wnd = seg.Wnd;
                    s.Una = rcvNxt;
                    if (ptr + Overhead + s.Data.Length > mtu) { output(buffer, ptr); ptr = 0; }
                    ptr = Encode(s, buffer, ptr, s.Data.Length);
                    Buffer.BlockCopy(s.Data, 0, buffer, ptr, s.Data.Length);
                    ptr += s.Data.Length;
                    if (s.Xmit >= deadLink) state = -1;
                }
            }
            if (ptr > 0) output(buffer, ptr);

            if (change)
            {
                uint inflight = sndNxt - sndUna;
                ssthresh = Math.Max(inflight / 2, ThreshMin);
                cwnd = ssthresh + resent;
                incr = cwnd * (uint)mss;
            }
            if (lost)
            {
                ssthresh = Math.Max(cw / 2, ThreshMin);
                cwnd = 1;
                incr = (uint)mss;
            }
            if (cwnd < 1)
            {
                cwnd = 1;
                incr = (uint)mss;
            }
        }

        /// <summary>
        /// Advances the clock to now (milliseconds, any origin, wrapping)
        /// and flushes when an interval has passed. Call it every interval,
        /// or at Check's time.
        /// </summary>
        public void Update(uint now)
        {
            current = now;
            if (!updated)
            {
                updated = true;
                tsFlush = current;
            }
            int slap = Diff(current, tsFlush);
            if (slap >= 10000 || slap < -10000)
            {
                tsFlush = current;
                slap = 0;
            }
            if (slap >= 0)
            {
                tsFlush += interval;
                if (Diff(current, tsFlush) >= 0) tsFlush = current + interval;
                Flush();
            }
        }

        /// <summary>When Update is next due (for a caller that sleeps until then), at most an interval after now.</summary>
        public uint Check(uint now)
        {
            if (!updated) return now;
            uint tsf = tsFlush;
            if (Diff(now, tsf) >= 10000 || Diff(now, tsf) < -10000) tsf = now;
            if (Diff(now, tsf) >= 0) return now;
            int tmFlush = Diff(tsf, now), tmPacket = int.MaxValue;
            foreach (var s in sndBuf)
            {
                int d = Diff(s.ResendTs, now);
                if (d <= 0) return now;
                if (d < tmPacket) tmPacket = d;
            }
            int minimal = Math.Min(Math.Min(tmPacket, tmFlush), (int)interval);
            return now + (uint)minimal;
        }

        // ------------------------------------------------------------
        // Encoding

        static int Diff(uint later, uint earlier) { return (int)(later - earlier); }

        static uint U32(byte[] b, int i)
        {
            return (uint)(b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24));
        }

        static int Encode(Segment s, byte[] b, int p, int len)
        {
            Put32(b, p, s.Conv);
            b[p + 4] = s.Cmd;
            b[p + 5] = s.Frg;
            b[p + 6] = (byte)s.Wnd;
            b[p + 7] = (byte)(s.Wnd >> 8);
            Put32(b, p + 8, s.Ts);
            Put32(b, p + 12, s.Sn);
            Put32(b, p + 16, s.Una);
            Put32(b, p + 20, (uint)len);
            return p + Overhead;
        }

        static void Put32(byte[] b, int i, uint v)
        {
            b[i] = (byte)v;
            b[i + 1] = (byte)(v >> 8);
            b[i + 2] = (byte)(v >> 16);
            b[i + 3] = (byte)(v >> 24);
        }
    }

    /// <summary>
    /// The gate's KCP handshake (protocol.md 3.2): a 32-byte hello with a
    /// random nonce, answered by a 24-byte cookie that is the session's
    /// conversation ID.
    /// </summary>
    public static class KcpHandshake
    {
        /// <summary>The handshake version this client speaks.</summary>
        public const byte Version = 1;
        /// <summary>The size of a hello.</summary>
        public const int HelloSize = 32;
        /// <summary>The size of the gate's answer.</summary>
        public const int CookieSize = 24;
        /// <summary>Answer statuses: the cookie is the conv to use; the gate speaks another version.</summary>
        public const byte StatusOk = 0, StatusBadVersion = 1;

        /// <summary>The hello with this nonce: u32 0 | "GWKH" | u8 version | 3 zero bytes | u64 nonce | 12 zero bytes.</summary>
        public static byte[] Hello(ulong nonce)
        {
            var b = new byte[HelloSize];
            b[4] = (byte)'G'; b[5] = (byte)'W'; b[6] = (byte)'K'; b[7] = (byte)'H';
            b[8] = Version;
            for (int i = 0; i < 8; i++) b[12 + i] = (byte)(nonce >> (8 * i));
            return b;
        }

        /// <summary>
        /// Decodes an answer: u32 0 | "GWKC" | u8 version | u8 status | 2
        /// zero bytes | u64 nonce | u32 cookie. False for anything else (a
        /// KCP segment, a datagram of another size).
        /// </summary>
        public static bool TryParseCookie(byte[] b, int len, out byte version, out byte status, out ulong nonce, out uint cookie)
        {
            version = status = 0;
            nonce = 0;
            cookie = 0;
            if (b == null || len != CookieSize || b.Length < len) return false;
            if (b[0] != 0 || b[1] != 0 || b[2] != 0 || b[3] != 0 || b[4] != 'G' || b[5] != 'W' || b[6] != 'K' || b[7] != 'C') return false;
            version = b[8];
            status = b[9];
            for (int i = 0; i < 8; i++) nonce |= (ulong)b[12 + i] << (8 * i);
            cookie = (uint)(b[20] | (b[21] << 8) | (b[22] << 16) | (b[23] << 24));
            return true;
        }

        /// <summary>A random nonce.</summary>
        public static ulong NewNonce()
        {
            var b = new byte[8];
            using (var rng = RandomNumberGenerator.Create()) rng.GetBytes(b);
            return BitConverter.ToUInt64(b, 0);
        }

        /// <summary>
        /// Runs the handshake on socket s (unconnected UDP) with the gate:
        /// hellos after 250 ms, 500 ms, then at most maxGapMs apart, until
        /// the gate answers this nonce from its address, or timeout.
        /// Returns the cookie. Throws IOException when no answer comes in
        /// time, or at once when the gate speaks another version.
        /// </summary>
        public static uint Run(Socket s, IPEndPoint gate, TimeSpan timeout, int maxGapMs)
        {
            ulong nonce = NewNonce();
            var hello = Hello(nonce);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            long deadline = (long)timeout.TotalMilliseconds;
            var buf = new byte[2048];
            int wait = Math.Min(250, maxGapMs);
            while (true)
            {
                try { s.SendTo(hello, gate); }
                catch (SocketException e) { throw new IOException("KCP hello to " + gate + ": " + e.Message, e); }
                long resend = Math.Min(clock.ElapsedMilliseconds + wait, deadline);
                while (true)
                {
                    long left = resend - clock.ElapsedMilliseconds;
                    if (left <= 0) break;
                    if (!s.Poll((int)Math.Min(left * 1000, int.MaxValue), SelectMode.SelectRead)) continue;
                    EndPoint from = new IPEndPoint(gate.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
                    int n;
                    try { n = s.ReceiveFrom(buf, ref from); }
                    catch (SocketException) { continue; } // an ICMP refusal (Windows), an oversized datagram
                    if (!gate.Equals(from)) continue;    // not from the gate: anyone can send us a datagram
                    byte version, status;
                    ulong got;
                    uint cookie;
                    if (!TryParseCookie(buf, n, out version, out status, out got, out cookie) || got != nonce) continue;
                    if (status != StatusOk || cookie == 0)
                        throw new IOException("KCP handshake with " + gate + ": the gate speaks handshake version " + version +
                            " (status " + status + "), this client " + Version + ": update the client");
                    return cookie;
                }
                if (clock.ElapsedMilliseconds >= deadline)
                    throw new IOException("KCP handshake with " + gate + ": no answer within " + timeout.TotalSeconds +
                        " s (the gate is down or unreachable, serves no KCP, is too busy, or is older than this client and has no handshake)");
                wait = Math.Min(2 * wait, maxGapMs);
            }
        }
    }

    // KcpTransport carries the client's byte stream of frames over a KCP
    // session with the gate (protocol.md 3.2): its own UDP socket, the
    // handshake, then one thread that receives datagrams and runs KCP's
    // update every interval; Read and Write wait on it. Close stops and
    // joins that thread.
    sealed class KcpTransport : ITransport
    {
        // The gate's settings (protocol.md 3.2).
        internal const int Mtu = 1400, Window = 128, IntervalMs = 10;
        // How long Write waits for room in the send window.
        const int WriteTimeoutMs = 10000;

        readonly Socket sock;
        readonly IPEndPoint gate;
        readonly Kcp kcp;
        readonly object mu = new object();
        readonly Thread loop;
        readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();
        readonly long silentLimitMs;   // no datagram from the session this long after the handshake: dead
        readonly long sessionStartMs;
        bool heard;                    // a datagram of the session arrived (under mu)
        bool closed;                   // under mu
        string dead;                   // why the session is dead (under mu)
        byte[] rest;                   // what Read has not returned yet of the last message (reader thread)
        int restOff;

        // The handshake gives up after timeout, or at once when cancel is
        // cancelled (Close while a resumable session redials): the socket
        // is closed under it.
        public KcpTransport(string host, int port, TimeSpan timeout, int maxMessage, int helloGapMs, CancellationToken cancel)
        {
            gate = new IPEndPoint(Resolve(host, port), port);
            sock = new Socket(gate.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                sock.Bind(new IPEndPoint(gate.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0));
                uint conv;
                try
                {
                    using (cancel.Register(() => sock.Close()))
                        conv = KcpHandshake.Run(sock, gate, timeout, helloGapMs);
                }
                catch (Exception) when (cancel.IsCancellationRequested)
                {
                    throw new IOException("connect to " + host + ":" + port + " over KCP: cancelled, the client closed");
                }
                catch (IOException e) { throw new IOException("connect to " + host + ":" + port + " over KCP: " + e.Message, e); }
                kcp = new Kcp(conv, Output);
                kcp.SetNoDelay(1, IntervalMs, 2, true);
                kcp.SetWindow(Window, Window);
                kcp.SetMtu(Mtu);
                kcp.MaxMessageSize = maxMessage;
                kcp.Update(Now());
            }
            catch
            {
                sock.Close();
                throw;
            }
            // A session the gate never opens is silent: give up after the
            // dial timeout (protocol.md 3.2) and let the client dial again.
            silentLimitMs = (long)timeout.TotalMilliseconds;
            sessionStartMs = clock.ElapsedMilliseconds;
            loop = new Thread(Loop) { IsBackground = true, Name = "goworld kcp" };
            loop.Start();
        }

        static IPAddress Resolve(string host, int port)
        {
            IPAddress a;
            if (IPAddress.TryParse(host, out a)) return a;
            IPAddress[] all;
            try { all = Dns.GetHostAddresses(host); }
            catch (SocketException e) { throw new IOException("connect to " + host + ":" + port + " over KCP: " + e.Message, e); }
            foreach (var x in all) if (x.AddressFamily == AddressFamily.InterNetwork) return x;
            if (all.Length > 0) return all[0];
            throw new IOException("connect to " + host + ":" + port + " over KCP: no address for " + host);
        }

        uint Now() { return (uint)clock.ElapsedMilliseconds; }

        // Output sends one datagram (the KCP lock held). UDP is lossy: a
        // failed send is a lost datagram, which KCP resends.
        void Output(byte[] buf, int n)
        {
            try { sock.SendTo(buf, 0, n, SocketFlags.None, gate); }
            catch (SocketException) { }
            catch (ObjectDisposedException) { }
        }

        void Loop()
        {
            var buf = new byte[64 << 10];
            EndPoint from = new IPEndPoint(gate.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
            try
            {
                while (true)
                {
                    int wait;
                    lock (mu)
                    {
                        if (closed) return;
                        uint now = Now();
                        kcp.Update(now);
                        if (kcp.Dead && dead == null) dead = "the gate stopped acknowledging (KCP dead link)";
                        if (!heard && clock.ElapsedMilliseconds - sessionStartMs > silentLimitMs && dead == null)
                            dead = "no answer from the gate within " + silentLimitMs / 1000.0 + " s of the KCP handshake";
                        if (dead != null) { Monitor.PulseAll(mu); return; }
                        wait = Math.Max(1, Math.Min((int)(kcp.Check(now) - now), IntervalMs));
                    }
                    if (!sock.Poll(wait * 1000, SelectMode.SelectRead)) continue;
                    // Everything that has arrived, then an update.
                    int got = 0;
                    while (got < 64 && sock.Available > 0 || got == 0)
                    {
                        int n;
                        try { n = sock.ReceiveFrom(buf, ref from); }
                        catch (SocketException) { got++; continue; } // an ICMP refusal (Windows), an oversized datagram
                        got++;
                        // Only the gate's datagrams, and none over the MTU
                        // (the gate never sends one).
                        if (!gate.Equals(from) || n > Mtu) continue;
                        lock (mu)
                        {
                            if (closed) return;
                            if (kcp.Input(buf, 0, n) == 0 || kcp.PeekSize() >= 0) heard = true;
                            kcp.Flush(true); // ACK no-delay
                            Monitor.PulseAll(mu);
                        }
                    }
                }
            }
            catch (ObjectDisposedException) { }
            catch (SocketException e)
            {
                lock (mu) { if (dead == null) dead = "KCP socket: " + e.Message; }
            }
            finally
            {
                lock (mu) Monitor.PulseAll(mu);
            }
        }

        public int Read(byte[] buf, int off, int n)
        {
            if (n <= 0) return 0;
            while (rest == null)
            {
                lock (mu)
                {
                    while (true)
                    {
                        if (closed) throw new IOException("the KCP session is closed");
                        var msg = kcp.Recv();
                        if (msg != null)
                        {
                            if (msg.Length > 0) { rest = msg; restOff = 0; }
                            break;
                        }
                        if (dead != null) throw new IOException(dead);
                        Monitor.Wait(mu, 100);
                    }
                }
            }
            int k = Math.Min(n, rest.Length - restOff);
            Buffer.BlockCopy(rest, restOff, buf, off, k);
            restOff += k;
            if (restOff == rest.Length) rest = null;
            return k;
        }

        // Write splits the bytes into messages of at most one segment
        // (frg 0, as kcp-go does): the session's first segment then holds
        // the client's first frame whole, as the gate requires. It waits
        // (10 s at most) while the send window is full.
        public void Write(byte[] buf, int off, int n)
        {
            long deadline = clock.ElapsedMilliseconds + WriteTimeoutMs;
            lock (mu)
            {
                while (n > 0)
                {
                    while (true)
                    {
                        if (closed) throw new IOException("the KCP session is closed");
                        if (dead != null) throw new IOException(dead);
                        if (kcp.WaitSnd < 2 * kcp.SendWindow) break;
                        long left = deadline - clock.ElapsedMilliseconds;
                        if (left <= 0) throw new IOException("the KCP send window stayed full for " + WriteTimeoutMs / 1000 + " s");
                        Monitor.Wait(mu, (int)Math.Min(left, 100));
                    }
                    int k = Math.Min(n, kcp.Mss);
                    kcp.Send(buf, off, k);
                    off += k;
                    n -= k;
                }
                kcp.Flush();
            }
        }

        public void Close()
        {
            lock (mu)
            {
                if (closed) return;
                closed = true;
                Monitor.PulseAll(mu);
            }
            if (Thread.CurrentThread != loop) loop.Join();
            sock.Close();
        }
    }
}
