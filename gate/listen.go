package gate

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/xtaci/kcp-go/v5"
)

// portTries bounds how many kernel-picked ports listen tries when the UDP
// side of one is taken.
const portTries = 20

// listen opens the TCP listener and, with KCP, the UDP one on the same
// port, read by kcp-go through the KCP filter. With port 0 the kernel picks a free TCP port, whose UDP twin may be
// in use by someone else: then it tries another port, a bounded number of
// times.
func (g *Gate) listen() error {
	cfg := g.cfg
	_, port, _ := net.SplitHostPort(cfg.ListenAddr)
	tries := 1
	if port == "0" && cfg.KCP {
		tries = portTries
	}
	for i := 0; ; i++ {
		tcp, err := net.Listen("tcp", cfg.ListenAddr)
		if err != nil {
			return fmt.Errorf("gate%d: %w", cfg.ID, err)
		}
		if !cfg.KCP {
			g.tcp = tcp
			return nil
		}
		// KCP listens on UDP at the port TCP got (which matters for port 0),
		// behind the filter (kcpfilter.go).
		addr := tcp.Addr().(*net.TCPAddr)
		uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: addr.IP, Port: addr.Port, Zone: addr.Zone})
		if err != nil {
			tcp.Close()
			if errors.Is(err, syscall.EADDRINUSE) && i+1 < tries {
				continue
			}
			return fmt.Errorf("gate%d: kcp listen on %s: %w", cfg.ID, addr, err)
		}
		uc.SetReadBuffer(4 << 20)
		uc.SetWriteBuffer(4 << 20)
		g.kcpDrops = newDropLog(g.log, g.kcpDropCounts)
		g.udp = newKCPFilter(uc, kcpFilterConfig{
			sessionRate: cfg.KCPSessionRate, sessionBurst: cfg.KCPSessionBurst,
			helloRate: cfg.KCPHelloRate, handshakeTimeout: cfg.KCPHandshakeTimeout,
		}, g.kcpDrops)
		l, err := kcp.ServeConn(nil, 0, 0, g.udp)
		if err != nil { // it never fails
			tcp.Close()
			uc.Close()
			return fmt.Errorf("gate%d: kcp listen on %s: %w", cfg.ID, addr, err)
		}
		g.tcp, g.kcp = tcp, l
		return nil
	}
}
