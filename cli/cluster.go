package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
)

func clusterCommand() *cli.Command {
	return &cli.Command{
		Name:  "cluster",
		Usage: "cluster-wide settings",
		Subcommands: []*cli.Command{{
			Name:  "settings",
			Usage: "show or change the fencing settings every member must share",
			Description: `The fencing settings (fencing.mode, timing.heartbeat, timing.lease,
fencing.stop_deadline) are recorded in the Raft log: the first leader records
its own, and only 'raftha cluster settings set' changes them. Takeover waits
are computed from them, and the leader refuses the heartbeats of a member
whose configuration differs (it then holds no lease and runs no group).`,
			Subcommands: []*cli.Command{
				{
					Name:      "show",
					Usage:     "print the cluster's fencing settings",
					ArgsUsage: " ",
					Flags:     clientFlags(),
					Action: apiAction(0, usagef("cluster settings show takes no arguments"), 30*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
						v, err := cl.Settings(ctx)
						if err != nil {
							return err
						}
						return emit(c, v, func(w io.Writer) { printSettings(w, v) })
					}),
				},
				{
					Name:      "set",
					Usage:     "change the cluster's fencing settings (members must be reconfigured to match)",
					ArgsUsage: " ",
					Description: `Records new settings in the log, with who changed them. Flags not given keep
their value. Members whose configuration differs are refused until their
configuration matches and they restart: change the member files first, then
the cluster's settings, then restart the members one at a time.`,
					Flags: append(clientFlags(),
						&cli.StringFlag{Name: "fencing-mode", Usage: "aws-stop or lease-only"},
						&cli.DurationFlag{Name: "heartbeat", Usage: "timing.heartbeat"},
						&cli.DurationFlag{Name: "lease", Usage: "timing.lease"},
						&cli.DurationFlag{Name: "stop-deadline", Usage: "fencing.stop_deadline"},
					),
					Action: apiAction(0, usagef("cluster settings set takes flags only"), 30*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
						req := api.SettingsRequest{FencingMode: c.String("fencing-mode")}
						for _, f := range []struct {
							name string
							dst  **api.Duration
						}{{"heartbeat", &req.Heartbeat}, {"lease", &req.Lease}, {"stop-deadline", &req.StopDeadline}} {
							if c.IsSet(f.name) {
								d := api.Duration(c.Duration(f.name))
								*f.dst = &d
							}
						}
						if req == (api.SettingsRequest{}) {
							return usagef("cluster settings set needs at least one of --fencing-mode, --heartbeat, --lease, --stop-deadline")
						}
						v, err := cl.SetSettings(ctx, req)
						if err != nil {
							return err
						}
						return emit(c, v, func(w io.Writer) { printSettings(w, v) })
					}),
				},
			},
		}},
	}
}

func printSettings(w io.Writer, v *api.SettingsView) {
	recorded := ""
	if !v.Recorded {
		recorded = " (not recorded yet: this member's own)"
	}
	fmt.Fprintf(w, "fencing.mode %s, timing.heartbeat %s, timing.lease %s, fencing.stop_deadline %s%s\n", v.FencingMode, v.Heartbeat, v.Lease, v.StopDeadline, recorded)
	fmt.Fprintf(w, "lease-only wait: %s\n", v.LeaseOnlyWait)
}
