package jsclient_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/nodetest"
	"github.com/goworld-engine/goworld/rpc"
)

// JsAnswerer is the boot entity of the request test: methods that answer
// in every way a method can.
type JsAnswerer struct{ entity.Entity }

func (a *JsAnswerer) DescribeEntityType(d *entity.TypeDesc) {
	d.ExposeToClient("Double", "Echo", "Refuse", "Boom", "Hold", "Nothing")
}

func (a *JsAnswerer) Double(n int) (int, error) { return 2 * n, nil }
func (a *JsAnswerer) Echo(v any) (any, error)   { return v, nil }
func (a *JsAnswerer) Refuse(n int) (string, error) {
	return "", rpc.NewError(rpc.CodeUser+2, fmt.Sprintf("refused %d", n))
}
func (a *JsAnswerer) Boom() (int, error)   { panic("boom") }
func (a *JsAnswerer) Hidden() (int, error) { return 1, nil }
func (a *JsAnswerer) Nothing() error       { return nil }

// Hold holds the game loop for ms milliseconds, so that the client's
// requests wait (for its timeout and max_client_requests).
func (a *JsAnswerer) Hold(ms int) (int, error) {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return ms, nil
}

// TestRequestsAgainstCluster: goworld.js's request() against a real
// cluster over WebSocket (testdata/request.mjs): results, every error
// code, its own timeout, and the gate's max_client_requests.
func TestRequestsAgainstCluster(t *testing.T) {
	nodetest.Find(t)
	reg := entity.NewRegistry()
	if err := reg.Register("JsAnswerer", &JsAnswerer{}); err != nil {
		t.Fatal(err)
	}
	c := cluster.Start(t, cluster.Options{Registry: reg, BootEntity: "JsAnswerer", WebSocket: true,
		GateLimits: &gate.Config{GateTuning: config.GateTuning{MaxClientRequests: 2}}})
	out := nodetest.Run(t, ".", nodeTimeout, "testdata/request.mjs", c.GateWSURL(0))
	if !strings.Contains(out, "request: ok") {
		t.Fatalf("request.mjs did not report ok:\n%s", out)
	}
}
