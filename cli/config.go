package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/config"
)

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "check member configuration files",
		Subcommands: []*cli.Command{{
			Name:      "check",
			Usage:     "validate a member configuration file as the agent would",
			ArgsUsage: "FILE",
			Description: `Runs exactly the validation of 'raftha agent': strict YAML (unknown keys,
bad durations or addresses, missing keys are errors naming FILE:LINE), the
timing relations (lease >= 3 x heartbeat, failover_timeout > lease, and
with lease-only failover_timeout >= lease + heartbeat), and the fencing
settings. Prints warnings (for example a two-voter cluster that cannot fail
over) and exits non-zero on any error.`,
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usagef("config check takes one FILE")
				}
				file := c.Args().First()
				cfg, err := config.LoadConfigFile(file)
				if err != nil {
					return err
				}
				w := stdout(c)
				for _, warn := range cfg.Warnings() {
					fmt.Fprintf(w, "warning: %s\n", warn)
				}
				fmt.Fprintf(w, "%s: OK: %s %s, %d members, heartbeat %s, lease %s, failover_timeout %s, fencing %s\n",
					file, cfg.Role, cfg.NodeID, len(cfg.Members), cfg.Timing.Heartbeat, cfg.Timing.Lease, cfg.Timing.FailoverTimeout, cfg.Fencing.Mode)
				return nil
			},
		}},
	}
}
