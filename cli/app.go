// Package cli is the raftha command line: the agent, the operator
// commands (which talk to the HTTP API only), TLS tooling and the demo.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
)

// NewApp builds the raftha command line application.
func NewApp() *cli.App {
	app := &cli.App{
		Name:    "raftha",
		Usage:   "HA cluster manager for EC2: failover groups owned through a Raft log",
		Version: api.Version,
		Description: `raftha keeps services highly available on EC2. Members (nodes and a witness)
form a Raft group; the log says which node owns each failover group, at which
epoch. Only the leader-confirmed owner may mount the shared disk, move the
virtual IP or start the service. A node that loses quorum fences itself, and a
winner stops the old owner through the EC2 API before it takes over.

Start here:
   raftha demo                              a local 3-member cluster on loopback
   raftha config check /etc/raftha/raftha.yaml
   raftha agent --config /etc/raftha/raftha.yaml
   raftha status
   raftha ownership transfer db --to node2

Exit status (every command):
   0  success
   1  the operation failed (unreachable API, refused change, invalid file)
   2  usage error: unknown command or flag, missing argument, bad flag value;
      one line on stderr, no help
   Some commands add their own (status: 4 STALE view; ownership transfer:
   3 still in progress); their --help says so.

Client flags (--api, --ca-cert, --client-cert, --client-key, --token) and
--json may come before or after the command path:
   raftha --api https://10.0.1.10:7401 status --json
   raftha status --api https://10.0.1.10:7401 --json
--json prints the result as one JSON document on stdout.`,
		EnableBashCompletion: true,
		Commands: []*cli.Command{
			agentCommand(),
			statusCommand(),
			groupCommand(),
			ownershipCommand(),
			whyCommand(),
			membersCommand(),
			clusterCommand(),
			tlsCommand(),
			tokenCommand(),
			configCommand(),
			timingCommand(),
			diskCommand(),
			debugCommand(),
			snapshotCommand(), // snapshot.go
			recoverCommand(),  // snapshot.go
			iamCommand(),
			demoCommand(),
			demoAppCommand(),
			versionCommand(),
			completionCommand(),
			manCommand(),
		},
		ExitErrHandler: func(c *cli.Context, err error) {},
		OnUsageError:   onUsageError,
	}
	app.Action = unknownCommand(func(c *cli.Context) error { return cli.ShowAppHelp(c) })
	for _, cmd := range app.Commands {
		refuseUnknownSubcommands(cmd)
		quietUsageErrors(cmd)
	}
	addHelpCommands(app)
	return app
}

// exitNoHelpTopic is the status urfave/cli's help command exits with for
// a topic that names no command.
const exitNoHelpTopic = 3

// addHelpCommands gives the app and every command that groups others its
// own copy of urfave/cli's help command, whose unknown topic (`raftha
// help statsu`, `raftha group help lsit`) is a usage error, exit 2, like
// an unknown command, instead of exit 3.
func addHelpCommands(app *cli.App) {
	probe := &cli.App{Name: app.Name, Writer: io.Discard, ErrWriter: io.Discard}
	probe.Setup()
	std := probe.Command("help")
	if std == nil {
		return
	}
	help := func(parent string) *cli.Command {
		h := *std
		h.Action = func(c *cli.Context) error {
			err := std.Action(c)
			var ec cli.ExitCoder
			if errors.As(err, &ec) && ec.ExitCode() == exitNoHelpTopic {
				return usagef("unknown command %q: see %s --help", c.Args().First(), parent)
			}
			return err
		}
		return &h
	}
	app.Commands = append(app.Commands, help(app.Name))
	// urfave/cli adds --help to the app only along with its own help
	// command.
	app.Flags = append(app.Flags, cli.HelpFlag)
	var walk func(cmd *cli.Command, path string)
	walk = func(cmd *cli.Command, path string) {
		if len(cmd.Subcommands) == 0 {
			return
		}
		for _, sub := range cmd.Subcommands {
			walk(sub, path+" "+sub.Name)
		}
		cmd.Subcommands = append(cmd.Subcommands, help(path))
	}
	for _, cmd := range app.Commands {
		walk(cmd, app.Name+" "+cmd.Name)
	}
}

// onUsageError turns a flag that does not parse (unknown, missing its
// value, a bad value) into a usageError, printed as one line by Main,
// instead of urfave/cli's "Incorrect Usage" and the whole help on stdout.
func onUsageError(_ *cli.Context, err error, _ bool) error {
	return usageError{msg: err.Error()}
}

// quietUsageErrors gives cmd and its subcommands, at any depth,
// onUsageError, and checks their required flags itself: urfave/cli prints
// the whole help on stdout for a missing required flag, and its error has
// no type to tell it from a failed operation.
func quietUsageErrors(cmd *cli.Command) {
	cmd.OnUsageError = onUsageError
	var required []string
	for _, f := range cmd.Flags {
		if name, ok := takeRequired(f); ok {
			required = append(required, name)
		}
	}
	if len(required) > 0 {
		before := cmd.Before
		cmd.Before = func(c *cli.Context) error {
			for _, name := range required {
				if !c.IsSet(name) {
					return usagef("%s: required flag --%s not set", c.Command.HelpName, name)
				}
			}
			if before != nil {
				return before(c)
			}
			return nil
		}
	}
	for _, sub := range cmd.Subcommands {
		quietUsageErrors(sub)
	}
}

// takeRequired clears the Required mark of f, when it has one, and
// returns f's name.
func takeRequired(f cli.Flag) (string, bool) {
	var req *bool
	switch f := f.(type) {
	case *cli.StringFlag:
		req = &f.Required
	case *cli.StringSliceFlag:
		req = &f.Required
	case *cli.DurationFlag:
		req = &f.Required
	case *cli.IntFlag:
		req = &f.Required
	case *cli.BoolFlag:
		req = &f.Required
	}
	if req == nil || !*req {
		return "", false
	}
	*req = false
	return f.Names()[0], true
}

// unknownCommand is the action of a command that only groups others: a
// word that names none of them is a usage error (exit 2), not a help
// topic (urfave/cli's default answers "No help topic" with exit 3).
func unknownCommand(help cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usagef("unknown command %q: see %s --help", c.Args().First(), c.Command.HelpName)
		}
		return help(c)
	}
}

// refuseUnknownSubcommands gives every command that groups others, at any
// depth, the unknownCommand action.
func refuseUnknownSubcommands(cmd *cli.Command) {
	if len(cmd.Subcommands) == 0 {
		return
	}
	if cmd.Action == nil {
		cmd.Action = unknownCommand(cli.ShowSubcommandHelp)
	}
	for _, sub := range cmd.Subcommands {
		refuseUnknownSubcommands(sub)
	}
}

// Main runs the application with args and returns the process exit code:
// 0 on success, 1 on a failed operation, 2 on a usage error.
func Main(args []string, stderr io.Writer) int {
	app := NewApp()
	app.ErrWriter = stderr
	err := app.Run(interspersed(app, args))
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "raftha: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() != 0 {
		return ec.ExitCode()
	}
	return exitFailed
}

// The exit statuses every command shares (see the app's Description).
const (
	exitFailed = 1 // the operation failed
	exitUsage  = 2 // the command line is wrong
)

// usageError marks a mistake in the command line itself.
type usageError struct{ msg string }

// Error returns the message; Main exits with status 2 for it.
func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "print the raftha version",
		ArgsUsage: " ",
		Flags:     []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usagef("version takes no arguments")
			}
			return emit(c, versionResult{Version: api.Version}, func(w io.Writer) { fmt.Fprintf(w, "raftha %s\n", api.Version) })
		},
	}
}

func stdout(c *cli.Context) io.Writer {
	if c.App.Writer != nil {
		return c.App.Writer
	}
	return os.Stdout
}
