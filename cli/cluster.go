package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/server"
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
					Action: apiAction(0, usagef("cluster settings show takes no arguments"), 30*time.Second, func(ctx context.Context, c *cli.Context, cl *apiClient) error {
						var v server.SettingsView
						if err := cl.getJSON(ctx, "/v1/cluster/settings", &v); err != nil {
							return err
						}
						printSettings(stdout(c), v)
						return nil
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
					Action: apiAction(0, usagef("cluster settings set takes flags only"), 30*time.Second, func(ctx context.Context, c *cli.Context, cl *apiClient) error {
						req := server.SettingsRequest{FencingMode: c.String("fencing-mode")}
						for _, f := range []struct {
							name string
							dst  **config.Duration
						}{{"heartbeat", &req.Heartbeat}, {"lease", &req.Lease}, {"stop-deadline", &req.StopDeadline}} {
							if c.IsSet(f.name) {
								d := config.Duration(c.Duration(f.name))
								*f.dst = &d
							}
						}
						if req == (server.SettingsRequest{}) {
							return usagef("cluster settings set needs at least one of --fencing-mode, --heartbeat, --lease, --stop-deadline")
						}
						var v server.SettingsView
						if err := cl.postJSON(ctx, "/v1/cluster/settings", req, &v); err != nil {
							return err
						}
						printSettings(stdout(c), v)
						return nil
					}),
				},
			},
		}},
	}
}

func printSettings(w io.Writer, v server.SettingsView) {
	recorded := ""
	if !v.Recorded {
		recorded = " (not recorded yet: this member's own)"
	}
	fmt.Fprintf(w, "fencing.mode %s, timing.heartbeat %s, timing.lease %s, fencing.stop_deadline %s%s\n", v.FencingMode, v.Heartbeat, v.Lease, v.StopDeadline, recorded)
	fmt.Fprintf(w, "lease-only wait: %s\n", v.LeaseOnlyWait)
}
