// Package netnstest builds, for a test, several "hosts" on one Linux
// machine: network namespaces joined by a bridge, each with a private
// address that exists only inside them (10.213.N.H/24), so that a cluster
// can run across hosts that reach each other only over that network, and
// the test can take a host's link down and bring it back. It needs root
// (CAP_NET_ADMIN) and the ip command (iproute2). Everything it makes is
// deleted when the test ends.
//
// Processes run in a host with Host.Command (ip netns exec); the test's
// own code reaches a host's network with Host.Do, which runs a function
// on an OS thread switched into the host's namespace: sockets made there
// (a client's dial) stay in that namespace afterwards.
package netnstest
