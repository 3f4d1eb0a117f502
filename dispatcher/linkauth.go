package dispatcher

import (
	"errors"
	"fmt"
	"net"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// hello reads a new connection's MsgHello and, with a secret, runs the
// challenge–response of rpc/linkauth.go. It returns the hello and the
// proof that ends the ack (nil without a secret); false means the
// connection was refused (logged, counted, told why) and is closed.
func (d *Dispatcher) hello(conn *rpc.Conn, log logrus.FieldLogger) (rpc.Hello, []byte, bool) {
	t, body, err := conn.ReadFrame()
	if err != nil {
		if d.lines.Allow(logrus.WarnLevel, "connection closed before hello") {
			log.WithError(err).Warn("connection closed before hello")
		}
		d.met.refused(rpc.RefusedBadHello)
		conn.Close(err)
		return rpc.Hello{}, nil, false
	}
	if t != rpc.MsgHello {
		d.refuse(conn, log, rpc.RefusedBadHello, "bad hello: the first frame is "+t.String()+", not Hello")
		return rpc.Hello{}, nil, false
	}
	h, err := rpc.DecodeHello(body)
	switch {
	case errors.Is(err, rpc.ErrAuthVersion):
		d.refuse(conn, log, rpc.RefusedAuthVersion, "the hello asks for a link authentication version this dispatcher does not know: upgrade it")
		return h, nil, false
	case err != nil || (h.Role != rpc.RoleGame && h.Role != rpc.RoleGate) || h.ID == 0:
		d.refuse(conn, log, rpc.RefusedBadHello, "bad hello: not a game or gate with an ID of 1 or more")
		return h, nil, false
	}
	log = log.WithField("peer", fmt.Sprintf("%s%d", h.Role, h.ID))
	secret := d.cfg.Secret
	if secret == nil {
		if h.Auth != 0 {
			d.refuse(conn, log, rpc.RefusedNoSecret, "the peer authenticates with a cluster secret and this dispatcher has none: give every process the same [cluster] secret_file")
			return h, nil, false
		}
		if !isLoopback(conn.RemoteAddr()) {
			d.refuse(conn, log, rpc.RefusedNotLoopback, "this dispatcher has no cluster secret, so it accepts games and gates only from its own machine (loopback): give every process the same [cluster] secret_file")
			return h, nil, false
		}
		return h, nil, true
	}
	if h.Auth == 0 {
		d.refuse(conn, log, rpc.RefusedNoAuth, "this dispatcher requires link authentication and the hello has none: the peer has no [cluster] secret, or predates link authentication")
		return h, nil, false
	}
	ch := rpc.Challenge{DispatcherID: uint16(d.cfg.ID), Instance: d.instance, Nonce: rpc.NewNonce()}
	conn.Send(rpc.MsgAuthChallenge, rpc.AppendChallenge(nil, ch))
	t, body, err = conn.ReadFrame()
	if err != nil {
		if d.lines.Allow(logrus.WarnLevel, "connection closed during link authentication") {
			log.WithError(err).Warn("connection closed during link authentication")
		}
		d.met.refused(rpc.RefusedBadHello)
		conn.Close(err)
		return h, nil, false
	}
	if t != rpc.MsgAuthProof || !rpc.CheckProof(body, rpc.PeerProof(secret, h, ch)) {
		d.refuse(conn, log, rpc.RefusedBadProof, "wrong cluster secret: the peer's proof does not match this dispatcher's secret")
		return h, nil, false
	}
	proof := rpc.DispatcherProof(secret, h, ch)
	return h, proof[:], true
}

// refuse tells the peer why its hello is refused, logs it (rate-limited:
// anyone who reaches the port can cause it), counts it and closes the
// connection once the refusal is written.
func (d *Dispatcher) refuse(conn *rpc.Conn, log logrus.FieldLogger, code rpc.RefusalCode, reason string) {
	d.met.refused(code)
	if d.lines.Allow(logrus.ErrorLevel, "link refused: "+code.String()) {
		log.WithField("code", code.String()).Errorf("refused a game/gate link: %s", reason)
	}
	conn.Send(rpc.MsgHelloRefused, rpc.AppendRefusal(nil, code, reason))
	conn.CloseAfterFlush(errors.New("dispatcher: link refused: " + code.String()))
	<-conn.Done() // bounded by the write timeout
}

// isLoopback reports whether a is a loopback IP address (127.0.0.0/8, ::1).
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
