package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
)

func whyCommand() *cli.Command {
	return &cli.Command{
		Name:      "why",
		Usage:     "explain a group's ownership history: who moved it where, why, and how long each step took",
		ArgsUsage: "GROUP",
		Description: `One line per ownership change, from the event history in the Raft log: when,
from which node to which, the new epoch, the cause (planned, failback,
shutdown, node-lost, failure, stop-failed, placement, auto-retry, standby), the fence
used and how long it took, how many times the new owner retried a failed
start (start_retries), how long the old owner took to stop, and how long
until the group was online. Under a takeover from a lost owner that came
online, a "split:" line splits its time: detection (the owner's silence
when the leader declared it lost), then from that decision to online =
fence + resource start + overhead (raftha's own time), and the parts of
the overhead: decision (the takeover reaching the winner), fence confirm,
fence commit, wake (the winner resuming after its fence was recorded),
start confirm, run record, other. The history is bounded (the latest 1000 events).`,
		Flags: clientFlags(),
		Action: apiAction(1, usagef("why takes one GROUP name, e.g. `raftha why db`"), 15*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
			changes, stale, err := cl.WhyStale(ctx, c.Args().First())
			if err != nil {
				return err
			}
			if stale != "" {
				fmt.Fprintf(c.App.ErrWriter, "raftha: warning: this history may miss the latest changes: %s\n", stale)
			}
			if c.Bool("json") {
				return writeJSONOut(c, changes)
			}
			if len(changes) == 0 {
				fmt.Fprintf(stdout(c), "group %s has no ownership changes in the history\n", c.Args().First())
			}
			for _, ch := range changes {
				fmt.Fprintln(stdout(c), ch.String())
				if ch.Split != nil {
					fmt.Fprintln(stdout(c), "    split: "+ch.Split.String())
				}
			}
			return nil
		}),
	}
}
