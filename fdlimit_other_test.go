//go:build !linux

package goworld

// serverHelperEnv: see fdlimit_test.go (Linux only).
const serverHelperEnv = "GOWORLD_TEST_SERVER"

func serverHelper() {}
