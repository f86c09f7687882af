package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/config"
)

func timingCommand() *cli.Command {
	return &cli.Command{
		Name:  "timing",
		Usage: "explain the failover time budget of a configuration",
		Subcommands: []*cli.Command{{
			Name:      "explain",
			Usage:     "show how heartbeat, election, lease, failover timeout, AWS deadlines and fence waits add up",
			ArgsUsage: " ",
			Description: `Validates the configuration like 'config check', then prints the steps from an
owner's crash to its groups running on another node, typical and worst case,
for an owner that is a Raft follower and one that is also the leader, and
when a cut-off owner stops acting by itself.`,
			Flags: []cli.Flag{&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Required: true, Usage: "member configuration `FILE`"}},
			Action: func(c *cli.Context) error {
				cfg, err := config.LoadConfigFile(c.String("config"))
				if err != nil {
					return err
				}
				b := config.TimingBudget(*cfg)
				w := stdout(c)
				fmt.Fprintf(w, "timing: heartbeat %s, lease %s, failover_timeout %s; fencing %s\n", cfg.Timing.Heartbeat, cfg.Timing.Lease, cfg.Timing.FailoverTimeout, cfg.Fencing.Mode)
				fmt.Fprintf(w, "raft (derived): heartbeat timeout %s, election timeout %s, leader lease %s\n\n", b.RaftHeartbeatTimeout, b.RaftElectionTimeout, b.RaftLeaderLease)
				printSteps(w, "Owner crash, owner is a Raft follower", b.OwnerFollower)
				fmt.Fprintln(w)
				printSteps(w, "When the crashed owner was also the Raft leader, these replace the detect step", b.OwnerLeaderExtra)
				ft, fw, fb := config.Total(b.OwnerFollower)
				lt, lw, _ := config.Total(b.OwnerLeaderExtra)
				// The new leader's wait replaces the detect step.
				lt -= b.OwnerFollower[0].Typical
				lw -= b.OwnerFollower[0].Worst
				fmt.Fprintln(w)
				fmt.Fprintf(w, "Total, owner follower: typical %s, worst %s%s\n", ft.Round(time.Millisecond), fw.Round(time.Millisecond), unbounded(fb))
				fmt.Fprintf(w, "Total, owner leader:   typical %s, worst %s%s\n", (ft + lt).Round(time.Millisecond), (fw + lw).Round(time.Millisecond), unbounded(fb))
				fmt.Fprintf(w, "A cut-off owner stops acting within %s of its last successful heartbeat (lease + stop_deadline + self-fence grace), then takes self_fence_action %s if its resources did not stop.\n", b.SelfFence, cfg.Fencing.SelfFenceAction)
				fmt.Fprintf(w, "An owner cut from the leader but not from every member (a node-link partition) keeps its lease: a heartbeat unanswered after %s is also sent through the other members, and the lease holds while 2 x heartbeat + that relayed round trip < lease: %s left for the round trip.\n", cfg.Timing.Heartbeat, b.RelayMargin)
				fmt.Fprintln(w, "\nLease-only wait, term by term:")
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				var sum time.Duration
				for _, t := range b.LeaseOnlyWait {
					sum += t.D
					fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.Term, t.D, t.Why)
				}
				fmt.Fprintf(tw, "  = lease-only wait\t%s\n", sum)
				tw.Flush()
				for _, warn := range append(cfg.Warnings(), b.Warnings...) {
					fmt.Fprintf(w, "warning: %s\n", warn)
				}
				return nil
			},
		}},
	}
}

func printSteps(w interface{ Write([]byte) (int, error) }, title string, steps []config.BudgetStep) {
	fmt.Fprintln(w, title+":")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  STEP\tTYPICAL\tWORST\tWHY")
	for _, s := range steps {
		worst := s.Worst.String()
		if s.Worst == 0 {
			worst = "+start"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", s.Step, s.Typical.Round(time.Millisecond), worst, s.Note)
	}
	tw.Flush()
}

func unbounded(bounded bool) string {
	if bounded {
		return ""
	}
	return " + resource start times"
}
