package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/goworld-engine/goworld/internal/proc"
)

// Exit codes of goworldctl.
const (
	exitFailure = 1 // the command failed
	exitUsage   = 2 // bad command line
)

// usageError is a bad command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// run runs goworldctl with the command line args (args[0] is the program
// name), writing results to stdout and errors to stderr, and returns the
// exit code. Canceling ctx interrupts a build or start; start then stops
// the processes it started.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := newApp(stdout, stderr).RunContext(ctx, args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "goworldctl: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "Run 'goworldctl help' or 'goworldctl COMMAND -h' for usage.")
		return exitUsage
	}
	return exitFailure
}

// Flags shared by the commands.
var (
	configFlag = &cli.StringFlag{
		Name:  "config",
		Usage: "config file `PATH` (default: DIR/config.ini, else the nearest one above DIR in its Go module, else ./config.ini)",
	}
	timeoutFlag = &cli.DurationFlag{
		Name:  "timeout",
		Value: proc.DefaultTimeout,
		Usage: "how long to wait for each process to become ready or to exit",
	}
	// hostFlag has no EnvVars: the flags are shared by every run of the
	// app (tests run many), and urfave/cli keeps an environment value in
	// the flag; withCluster reads $GOWORLD_HOST itself.
	hostFlag = &cli.StringFlag{
		Name: "host",
		Usage: "the host `NAME` this machine is in the config's host keys: act only on its processes " +
			"(required when the config places processes on hosts; default $" + hostEnv + ")",
	}
	noBuildFlag = &cli.BoolFlag{
		Name:  "no-build",
		Usage: "start the binary in DIR/bin as it is, without building it first",
	}
)

// newApp returns the command-line application.
func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "goworldctl",
		Usage:     "build, start, inspect, hot-reload and stop a goworld cluster",
		UsageText: "goworldctl COMMAND [flags] DIR",
		Description: "DIR is a server directory: it holds the game's main package and, usually, config.ini.\n" +
			"Processes keep their PID files in DIR/run and their logs in DIR/log.",
		Writer:          stdout,
		ErrWriter:       stderr,
		HideVersion:     true,
		HideHelpCommand: false,
		// Errors are printed by run, which also chooses the exit code;
		// never let the library call os.Exit.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("unknown command %q", c.Args().First())
			}
			cli.ShowAppHelp(c)
			return usagef("no command given")
		},
		Commands: commands(),
	}
	return app
}

func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err} }

// commands returns the subcommands.
func commands() []*cli.Command {
	return []*cli.Command{
		benchCommand(),
		newCommand(),
		genCommand(),
		devCommand(),
		{
			Name:         "build",
			Usage:        "build DIR's main package into DIR/bin/<base name of DIR>",
			ArgsUsage:    "DIR",
			OnUsageError: onUsageError,
			Action: func(c *cli.Context) error {
				dirArg, err := dirArg(c)
				if err != nil {
					return err
				}
				dir, err := serverDir(dirArg)
				if err != nil {
					return err
				}
				_, err = buildNoting(c.Context, c.App.Writer, c.App.ErrWriter, dir)
				return err
			},
		},
		{
			Name:      "start",
			Usage:     "build, then start every configured process (of this -host) and wait until all are ready",
			ArgsUsage: "DIR",
			Description: "With -down, only the processes that are down are started (after a crash); the running\n" +
				"ones are left alone, and new games and gates get the running dispatchers' addresses.\n" +
				"A dispatcher started again listens on its configured listen_addr: give it a fixed port,\n" +
				"since the games and gates that still run redial the address they had.\n" +
				"With -host (or GOWORLD_HOST), only that host's processes are started; the dispatchers of\n" +
				"other hosts are dialled at their advertise_addr (else listen_addr) from the config.",
			Flags: []cli.Flag{configFlag, hostFlag, timeoutFlag, noBuildFlag, &cli.BoolFlag{
				Name:  "down",
				Usage: "start only the processes that are down, leaving the running ones alone",
			}},
			OnUsageError: onUsageError,
			Action: withCluster(func(c *cli.Context, cl *cluster) error {
				return start(c.Context, c.App.Writer, cl, startOptions{
					timeout:  c.Duration(timeoutFlag.Name),
					noBuild:  c.Bool(noBuildFlag.Name),
					down:     c.Bool("down"),
					progress: c.App.ErrWriter,
				})
			}),
		},
		{
			Name:  "reload",
			Usage: "build, then hot-reload the games (of this -host) one by one: freeze, restart with the new binary, restore",
			Description: "Each game in turn, in ID order, freezes its world to a file (SIGUSR1) and exits; the new\n" +
				"binary restores it while the dispatchers hold the game's packets. If the new binary fails,\n" +
				"the game's previous binary (DIR/run/NAME.bin) restores the same file instead, and reload\n" +
				"stops with an error. Linux and macOS only.",
			ArgsUsage:    "DIR",
			Flags:        []cli.Flag{configFlag, hostFlag, timeoutFlag, noBuildFlag},
			OnUsageError: onUsageError,
			Action: withCluster(func(c *cli.Context, cl *cluster) error {
				return reload(c.Context, c.App.Writer, c.App.ErrWriter, cl, reloadOptions{
					timeout: c.Duration(timeoutFlag.Name),
					noBuild: c.Bool(noBuildFlag.Name),
				})
			}),
		},
		{
			Name:      "status",
			Usage:     "show which processes run (on which host), with key figures from their /metrics; fails if any (of this -host) is down",
			ArgsUsage: "DIR",
			Flags: []cli.Flag{configFlag, hostFlag, &cli.DurationFlag{
				Name:  "interval",
				Usage: "scrape twice this far apart and show rates (packets/s, bytes/s) and the tick p99 over it; 0: totals only",
			}, &cli.BoolFlag{
				Name:  "watch",
				Usage: "show the status again and again (every -interval, else every 2s) until interrupted",
			}},
			OnUsageError: onUsageError,
			Action: withCluster(func(c *cli.Context, cl *cluster) error {
				if c.Bool("watch") {
					return watchStatus(c.Context, c.App.Writer, c.App.ErrWriter, cl, c.Duration("interval"))
				}
				return status(c.App.Writer, cl, c.Duration("interval"))
			}),
		},
		{
			Name:         "stop",
			Usage:        "stop gates, games, then dispatchers (of this -host) with SIGTERM (SIGKILL after -timeout)",
			ArgsUsage:    "DIR",
			Flags:        []cli.Flag{configFlag, hostFlag, timeoutFlag},
			OnUsageError: onUsageError,
			Action: withCluster(func(c *cli.Context, cl *cluster) error {
				return stop(c.App.Writer, cl, syscall.SIGTERM, c.Duration(timeoutFlag.Name))
			}),
		},
		{
			Name:         "kill",
			Usage:        "kill gates, games, then dispatchers (of this -host) with SIGKILL",
			ArgsUsage:    "DIR",
			Flags:        []cli.Flag{configFlag, hostFlag, timeoutFlag},
			OnUsageError: onUsageError,
			Action: withCluster(func(c *cli.Context, cl *cluster) error {
				return stop(c.App.Writer, cl, syscall.SIGKILL, c.Duration(timeoutFlag.Name))
			}),
		},
	}
}

// dirArg returns the single DIR argument of a command.
func dirArg(c *cli.Context) (string, error) {
	switch args := c.Args(); {
	case args.Len() == 0:
		return "", usagef("%s: missing DIR", c.Command.Name)
	case args.Len() > 1:
		extra := strings.Join(args.Tail(), " ")
		if strings.HasPrefix(args.Get(1), "-") {
			return "", usagef("%s: unexpected arguments %q after DIR (flags go before DIR)", c.Command.Name, extra)
		}
		return "", usagef("%s: unexpected arguments %q after DIR", c.Command.Name, extra)
	default:
		return args.First(), nil
	}
}

// withCluster wraps an action that needs the loaded cluster of DIR.
func withCluster(action func(*cli.Context, *cluster) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		dir, err := dirArg(c)
		if err != nil {
			return err
		}
		if t := c.Duration(timeoutFlag.Name); c.IsSet(timeoutFlag.Name) && t <= 0 {
			return usagef("%s: -timeout must be positive, not %v", c.Command.Name, t)
		}
		cl, err := loadCluster(dir, c.String(configFlag.Name))
		if err != nil {
			return err
		}
		host := c.String(hostFlag.Name)
		if !c.IsSet(hostFlag.Name) {
			host = os.Getenv(hostEnv)
		}
		if err := cl.setHost(host); err != nil {
			return err
		}
		return action(c, cl)
	}
}
