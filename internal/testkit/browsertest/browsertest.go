// Package browsertest starts a headless Chromium for tests, driven with
// chromedp: the JavaScript client's ES module in a page (clients/js).
//
// Chromium is found as GOWORLD_CHROMIUM, else chromium, chromium-browser
// or google-chrome on PATH. Without one a test skips with a message, or
// fails when GOWORLD_REQUIRE_BROWSER=1 (set by .ci/run, which installs
// Debian's chromium).
package browsertest

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// RequireEnv, set to 1, makes tests that need Chromium fail rather than
// skip where there is none.
const RequireEnv = "GOWORLD_REQUIRE_BROWSER"

// PathEnv names the Chromium binary to use.
const PathEnv = "GOWORLD_CHROMIUM"

// Find returns the Chromium binary, or skips the test (fails it under
// GOWORLD_REQUIRE_BROWSER=1).
func Find(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(PathEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH (Debian: apt-get install chromium; or set " + PathEnv + "): this browser test needs it"
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s, and %s=1 is set", msg, RequireEnv)
	}
	t.Skip(msg)
	return ""
}

// Start starts a headless Chromium of the test's own (a fresh profile in
// a temporary directory) and returns its context; tabs are contexts
// derived from it (Open). The browser is closed, and its process waited
// for, when the test ends.
func Start(t testing.TB) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Find(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	// Start the browser on a context without a deadline (it lives as long
	// as the context of its first run), so that one that cannot start
	// fails here with its error.
	if err := chromedp.Do(bctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelBrowser() // closes the tabs and the browser
		cancelAlloc()   // waits for the process to exit
	})
	return bctx
}

// Open opens a new tab of the browser at url and returns its context.
func Open(t testing.TB, browser context.Context, url string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	// The tab's first run opens it, on its context without a deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	Run(t, ctx, chromedp.Navigate(url))
	return ctx
}

// Run runs actions in a tab within 30 s, failing the test on an error.
func Run(t testing.TB, tab context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%v", err)
	}
}

// Eval evaluates a JavaScript expression in a tab within 30 s; a promise
// is awaited.
func Eval[T any](t testing.TB, tab context.Context, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// Serve serves handler over HTTP on 127.0.0.1 (a port the system picks)
// until the test ends, and returns the server's base URL
// ("http://127.0.0.1:PORT"), for pages a tab opens.
func Serve(t testing.TB, handler http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return "http://" + ln.Addr().String()
}
