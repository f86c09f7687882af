// Package cli is the raftha command line: the agent, the operator
// commands (which talk to the HTTP API only), TLS tooling and the demo.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

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
   raftha ownership transfer db --to node2`,
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
	}
	app.Action = unknownCommand(func(c *cli.Context) error { return cli.ShowAppHelp(c) })
	for _, cmd := range app.Commands {
		refuseUnknownSubcommands(cmd)
	}
	return app
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
	// urfave/cli reports flag mistakes as plain errors (no type to match),
	// so their text is the only way to tell them from a failed operation.
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "Required flag") || strings.HasPrefix(err.Error(), "flag provided but not defined") || strings.HasPrefix(err.Error(), "invalid value") {
		return 2
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() != 0 {
		return ec.ExitCode()
	}
	return 1
}

// usageError marks a mistake in the command line itself.
type usageError struct{ msg string }

// Error returns the message; Main exits with status 2 for it.
func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the raftha version",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "raftha %s\n", api.Version)
			return nil
		},
	}
}

func stdout(c *cli.Context) io.Writer {
	if c.App.Writer != nil {
		return c.App.Writer
	}
	return os.Stdout
}
