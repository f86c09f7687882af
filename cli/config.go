package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/config/yamlstrict"
)

// configCheckResult is `raftha config check --json`: the summary of a
// valid file, or every problem of an invalid one (OK false, exit 1).
type configCheckResult struct {
	File            string                   `json:"file"`
	OK              bool                     `json:"ok"`
	Role            string                   `json:"role,omitempty"`
	NodeID          string                   `json:"node_id,omitempty"`
	Members         int                      `json:"members,omitempty"`
	Heartbeat       api.Duration             `json:"heartbeat,omitempty"`
	Lease           api.Duration             `json:"lease,omitempty"`
	FailoverTimeout api.Duration             `json:"failover_timeout,omitempty"`
	Fencing         string                   `json:"fencing,omitempty"`
	Groups          string                   `json:"groups,omitempty"` // the --groups file checked with it
	Warnings        []string                 `json:"warnings,omitempty"`
	Errors          []*yamlstrict.FieldError `json:"errors,omitempty"`
}

// errInvalidConfig: config check --json printed the problems of the file.
var errInvalidConfig = errors.New("invalid configuration")

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
settings. Every problem is listed in one pass. Prints warnings (for example
a two-voter cluster that cannot fail over) and exits 1 on any error; with
--json the problems are in "errors" on stdout.

With --groups GROUPFILE it also validates a group file (as 'group apply
--dry-run' does) and its disk locks against this file's timings, naming
GROUPFILE:LINE: lock_settle shorter than 2 x heartbeat + lock_io_timeout,
and two resources on one lock_device (or a lock_device that is a data
device) are errors; lock_lost_after too short for two re-reads, or (in
lease-only mode) longer than the lease-only wait, are warnings.`,
			Flags: []cli.Flag{groupsFlag(), jsonFlag()},
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usagef("config check takes one FILE")
				}
				file := c.Args().First()
				cfg, err := config.LoadConfigFile(file)
				var list yamlstrict.ErrorList
				if err != nil && c.Bool("json") && errors.As(err, &list) {
					if werr := writeJSONOut(c, configCheckResult{File: file, Errors: list}); werr != nil {
						return werr
					}
					return fmt.Errorf("%s: %w: %d problem(s)", file, errInvalidConfig, len(list))
				}
				if err != nil {
					return err
				}
				res := configCheckResult{File: file, OK: true, Role: string(cfg.Role), NodeID: cfg.NodeID, Members: len(cfg.Members),
					Heartbeat: api.Duration(cfg.Timing.Heartbeat), Lease: api.Duration(cfg.Timing.Lease),
					FailoverTimeout: api.Duration(cfg.Timing.FailoverTimeout), Fencing: string(cfg.Fencing.Mode), Warnings: cfg.Warnings()}
				if g := c.String("groups"); g != "" {
					_, warns, err := checkGroupLocks(g, cfg.ClusterSettings())
					if err != nil {
						return err
					}
					res.Groups, res.Warnings = g, append(res.Warnings, warns...)
				}
				return emit(c, res, func(w io.Writer) {
					for _, warn := range res.Warnings {
						fmt.Fprintf(w, "warning: %s\n", warn)
					}
					fmt.Fprintf(w, "%s: OK: %s %s, %d members, heartbeat %s, lease %s, failover_timeout %s, fencing %s\n",
						file, cfg.Role, cfg.NodeID, len(cfg.Members), cfg.Timing.Heartbeat, cfg.Timing.Lease, cfg.Timing.FailoverTimeout, cfg.Fencing.Mode)
					if res.Groups != "" {
						fmt.Fprintf(w, "%s: OK with these timings\n", res.Groups)
					}
				})
			},
		}},
	}
}
