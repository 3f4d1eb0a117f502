//go:build !unix

package procstat

import "time"

// SelfCPU returns the calling process's own CPU time; on this system it is
// not measured and is always 0.
func SelfCPU() time.Duration { return 0 }
