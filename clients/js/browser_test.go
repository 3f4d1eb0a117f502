package jsclient_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/testkit/browsertest"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
)

// servedFiles are what TestESModuleInBrowser serves: the page and the two
// files a browser needs for the ES module.
var servedFiles = map[string]string{
	"/index.html":  "testdata/browser/esm.html",
	"/goworld.mjs": "goworld.mjs",
	"/goworld.js":  "goworld.js",
}

// TestESModuleInBrowser loads goworld.mjs in a page served from
// 127.0.0.1, in a headless Chromium (testdata/browser/esm.html): the
// module exports GoWorld's names and the default, the same object as the
// global, and a session against a real in-process cluster over WebSocket
// gets its answers and a game's error as a RequestError. Every request
// the page makes must be for a served file.
func TestESModuleInBrowser(t *testing.T) {
	b := browsertest.Start(t)
	reg := entity.NewRegistry()
	if err := reg.Register("JsAnswerer", &JsAnswerer{}); err != nil {
		t.Fatal(err)
	}
	c := cluster.Start(t, cluster.Options{Registry: reg, BootEntity: "JsAnswerer", WebSocket: true})

	var mu sync.Mutex
	var served, refused []string
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		file, ok := servedFiles[r.URL.Path]
		mu.Lock()
		if ok {
			served = append(served, r.URL.Path)
		} else {
			refused = append(refused, r.URL.Path)
		}
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		body, err := os.ReadFile(file)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if filepath.Ext(file) == ".html" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		}
		w.Write(body)
	})
	base := browsertest.Serve(t, handler)

	tab := browsertest.Open(t, b, base+"/index.html")
	deadline := time.Now().Add(20 * time.Second)
	for !browsertest.Eval[bool](t, tab, `window.loaded === true`) {
		if time.Now().After(deadline) {
			t.Fatal("the page's module did not load within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	names := browsertest.Eval[string](t, tab, `window.api()`)
	for _, want := range []string{"Client", "RequestError", "ErrorCode", "Entity", "FrameReader", "connect"} {
		if !strings.Contains(","+names+",", ","+want+",") {
			t.Errorf("the module does not export %s: %s", want, names)
		}
	}
	if got := browsertest.Eval[string](t, tab, `window.session(`+jsString(c.GateWSURL(0))+`)`); got != "ok" {
		t.Errorf("session: %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refused) > 0 || len(served) != len(servedFiles) {
		t.Errorf("the page fetched %q and, not served, %q; want each of the %d files once", served, refused, len(servedFiles))
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
