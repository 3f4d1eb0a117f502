// Package fdlimit reads and raises the process's open-file limit
// (RLIMIT_NOFILE on Linux and macOS), which bounds how many clients a
// gate can hold: every TCP or WebSocket client is a descriptor, and so
// are the gate's listeners, its dispatcher links, its admin server and
// its log file.
package fdlimit

// Raise raises the soft open-file limit to the hard one, where the
// system has such limits, and returns the soft limit now in force. ok is
// false where there is no limit to read (Windows, and systems this
// package does not know); a limit that cannot be raised is returned as
// it is. Go raises the soft limit itself at start on most systems; doing
// it here again covers the others and reports the figure.
func Raise() (limit uint64, ok bool) { return raise() }

// ClientsFor returns how many clients a gate can hold under an open-file
// limit of limit while keeping reserve descriptors for everything else:
// limit - reserve, or 0 if that is not positive.
func ClientsFor(limit uint64, reserve int) int {
	if limit <= uint64(reserve) {
		return 0
	}
	n := limit - uint64(reserve)
	if n > 1<<30 {
		return 1 << 30
	}
	return int(n)
}
