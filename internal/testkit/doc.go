// Package testkit holds, under it, what the engine's own tests use to
// stand up real parts: an in-process cluster (cluster), Redis servers
// (redistest), headless Chromium (browsertest), Node (nodetest), mono
// for the C# client (monotest), a TCP proxy that cuts connections on
// demand (cutproxy), a UDP relay (udprelay), network namespaces for
// multi-host tests (netnstest), throwaway TLS certificates (testcert)
// and the notation of argument kinds the client libraries' tests share
// (argkinds). They import the servers (game, gate,
// dispatcher) and test tools, so they live apart from internal/'s
// low-level utilities (clip, lograte, fdlimit, wsconn...), which the
// servers themselves import. The public test kit for game developers is
// goworldtest.
package testkit
