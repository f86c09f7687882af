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
until the group was online. The history is bounded (the latest 1000 events).`,
		Flags: clientFlags(),
		Action: apiAction(1, usagef("why takes one GROUP name, e.g. `raftha why db`"), 15*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
			changes, err := cl.Why(ctx, c.Args().First())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSONOut(c, changes)
			}
			if len(changes) == 0 {
				fmt.Fprintf(stdout(c), "group %s has no ownership changes in the history\n", c.Args().First())
			}
			for _, ch := range changes {
				fmt.Fprintln(stdout(c), ch.String())
			}
			return nil
		}),
	}
}
