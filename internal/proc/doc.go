// Package proc holds the process-management helpers shared by the server
// binary and by goworldctl, the tool that builds, starts and stops a cluster.
//
// One binary serves the three roles of a cluster (dispatcher, game and gate),
// chosen by flags, and runs with the server directory DIR as its working
// directory:
//
//	BIN -role dispatcher|game|gate -id N -config /abs/config.ini \
//	    -pidfile DIR/run/NAME.pid -log DIR/log/NAME.log \
//	    [-dispatchers host:port,host:port] [-restore | -restore-from FILE]
//
// The server side uses two functions of this package:
//
//   - AcquirePIDFile at start-up: the process holds an exclusive flock(2) on
//     its PID file for its whole lifetime, so a second copy refuses to start
//     (ErrAlreadyRunning) and a crashed process never leaves a file that
//     looks alive.
//   - SignalReady once it listens: when the environment variable
//     GOWORLD_READY_FD names an inherited pipe, it writes one line
//     "READY {json}\n" (see ReadyInfo) and closes the pipe.
//
// The control side uses Probe, Start, Stop, Signal and WaitReleased:
//
//   - Probe tells whether a live process holds a PID file's lock. It never
//     trusts the file's contents alone: a stale file left by a killed
//     process is "not running".
//   - Start runs the binary detached (its own session), with stdout and
//     stderr appended to DIR/log/NAME.stderr, and waits for the READY line,
//     the process's exit or a timeout. On failure the error (a *StartError)
//     carries the last lines of the process's log and stderr.
//   - Stop signals the process holding a PID file and waits until the lock
//     is released, with SIGKILL as a fallback.
//   - Signal sends a signal (a game's SIGUSR1, for a hot reload) to the
//     process holding a PID file, and only to it; WaitReleased waits until
//     that process let go of the file, which it does only by exiting.
//
// PathsFor returns the conventional file names of one process under DIR.
//
// Only Linux and macOS are supported. On other systems the package builds,
// but its functions return errors wrapping errors.ErrUnsupported.
package proc
