//go:build !unix

package redistest

import "os"

// Elsewhere only Kill exists; Require skips the tests there.
var (
	sigStop os.Signal
	sigCont os.Signal
	sigTerm = os.Kill
	sigKill = os.Kill
)
