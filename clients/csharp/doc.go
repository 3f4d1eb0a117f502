// Package csharpclient holds the tests of the C# client for Unity and
// .NET in this directory (GoWorld.*.cs, see README.md). It has no Go API:
// its tests compile the client and C# test programs with mono's mcs and
// run them with mono, against values the server's encoder produced and
// against in-process clusters.
package csharpclient
