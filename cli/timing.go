package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/groupfile"
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
when a cut-off owner stops acting by itself. With --groups FILE (a group
file, as for 'group apply -f'), it also checks and lays out the disk path of
each disk resource with lock_device: taking the lock, how soon a holder
sees a newer owner, and in lease-only mode the poison pill against the
lease-only wait.`,
			Flags: []cli.Flag{&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Required: true, Usage: "member configuration `FILE`"}, groupsFlag(), jsonFlag()},
			Action: func(c *cli.Context) error {
				if c.NArg() != 0 {
					return usagef("timing explain takes no arguments (the file is --config FILE)")
				}
				cfg, err := config.LoadConfigFile(c.String("config"))
				if err != nil {
					return err
				}
				b := config.TimingBudget(*cfg)
				res := timingResultOf(cfg, b)
				var locks []groupfile.DiskLock
				if f := c.String("groups"); f != "" {
					var warns []string
					if locks, warns, err = checkGroupLocks(f, cfg.ClusterSettings()); err != nil {
						return err
					}
					res.Warnings = append(res.Warnings, warns...)
				}
				for _, d := range locks {
					res.DiskPaths = append(res.DiskPaths, diskPathResultOf(d, config.DiskPathOf(cfg.ClusterSettings(), d.Layout)))
				}
				if c.Bool("json") {
					return writeJSONOut(c, res)
				}
				w := stdout(c)
				fmt.Fprintf(w, "timing: heartbeat %s, lease %s, failover_timeout %s; fencing %s\n", cfg.Timing.Heartbeat, cfg.Timing.Lease, cfg.Timing.FailoverTimeout, cfg.Fencing.Mode)
				fmt.Fprintf(w, "raft (derived): heartbeat timeout %s, election timeout %s, leader lease %s\n\n", b.RaftHeartbeatTimeout, b.RaftElectionTimeout, b.RaftLeaderLease)
				printSteps(w, "Owner crash, owner is a Raft follower", b.OwnerFollower)
				fmt.Fprintln(w)
				printSteps(w, "When the crashed owner was also the Raft leader, these replace the detect step", b.OwnerLeaderExtra)
				fmt.Fprintln(w)
				ft, fl := res.TotalOwnerFollower, res.TotalOwnerLeader
				fmt.Fprintf(w, "Total, owner follower: typical %s, worst %s%s\n", ft.Typical.D().Round(time.Millisecond), ft.Worst.D().Round(time.Millisecond), unbounded(ft.Bounded))
				fmt.Fprintf(w, "Total, owner leader:   typical %s, worst %s%s\n", fl.Typical.D().Round(time.Millisecond), fl.Worst.D().Round(time.Millisecond), unbounded(fl.Bounded))
				fmt.Fprintf(w, "A cut-off owner stops acting within %s of its last successful heartbeat (lease + stop_deadline + self-fence grace), then takes self_fence_action %s if its resources did not stop.\n", b.SelfFence, cfg.Fencing.SelfFenceAction)
				fmt.Fprintf(w, "An owner cut from the leader but not from every member (a node-link partition) keeps its lease: a heartbeat unanswered after %s is also sent through the other members, and the lease holds while 2 x heartbeat + that relayed round trip < lease: %s left for the round trip.\n", cfg.Timing.Heartbeat, b.RelayMargin)
				fmt.Fprintln(w, "\nLease-only wait, term by term:")
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				for _, t := range b.LeaseOnlyWait {
					fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.Term, t.D, t.Why)
				}
				fmt.Fprintf(tw, "  = lease-only wait\t%s\n", res.LeaseOnlyWait.D())
				tw.Flush()
				for _, d := range locks {
					printDiskPath(w, cfg.ClusterSettings(), d, config.DiskPathOf(cfg.ClusterSettings(), d.Layout), confirmedAfter(b))
				}
				for _, warn := range res.Warnings {
					fmt.Fprintf(w, "warning: %s\n", warn)
				}
				return nil
			},
		}},
	}
}

// timingResult is `raftha timing explain --json`: the budget of
// config.TimingBudget with the totals the text prints.
type timingResult struct {
	Heartbeat            api.Duration `json:"heartbeat"`
	Lease                api.Duration `json:"lease"`
	FailoverTimeout      api.Duration `json:"failover_timeout"`
	Fencing              string       `json:"fencing"`
	SelfFenceAction      string       `json:"self_fence_action"`
	RaftHeartbeatTimeout api.Duration `json:"raft_heartbeat_timeout"`
	RaftElectionTimeout  api.Duration `json:"raft_election_timeout"`
	RaftLeaderLease      api.Duration `json:"raft_leader_lease"`
	OwnerFollower        []stepResult `json:"owner_follower"`
	// OwnerLeaderExtra replace the detect step when the owner was leader.
	OwnerLeaderExtra   []stepResult `json:"owner_leader_extra"`
	TotalOwnerFollower totalResult  `json:"total_owner_follower"`
	TotalOwnerLeader   totalResult  `json:"total_owner_leader"`
	SelfFence          api.Duration `json:"self_fence"`
	RelayMargin        api.Duration `json:"relay_margin"`
	LeaseOnlyWaitTerms []termResult `json:"lease_only_wait_terms"`
	LeaseOnlyWait      api.Duration `json:"lease_only_wait"`
	Warnings           []string     `json:"warnings,omitempty"`
	// DiskPaths are the disk locks of --groups FILE.
	DiskPaths []diskPathResult `json:"disk_paths,omitempty"`
}

// stepResult is one config.BudgetStep; Worst is "0s" when only the
// resources' start times bound it.
type stepResult struct {
	Step    string       `json:"step"`
	Typical api.Duration `json:"typical"`
	Worst   api.Duration `json:"worst"`
	Note    string       `json:"note"`
}

// totalResult is a sum of steps; Bounded is false when resource start
// times come on top of Worst.
type totalResult struct {
	Typical api.Duration `json:"typical"`
	Worst   api.Duration `json:"worst"`
	Bounded bool         `json:"bounded"`
}

// termResult is one config.WaitTerm.
type termResult struct {
	Term string       `json:"term"`
	D    api.Duration `json:"duration"`
	Why  string       `json:"why"`
}

func timingResultOf(cfg *config.Config, b config.Budget) timingResult {
	ft, fw, fb := config.Total(b.OwnerFollower)
	lt, lw, _ := config.Total(b.OwnerLeaderExtra)
	// The new leader's wait replaces the detect step.
	lt -= b.OwnerFollower[0].Typical
	lw -= b.OwnerFollower[0].Worst
	r := timingResult{
		Heartbeat: api.Duration(cfg.Timing.Heartbeat), Lease: api.Duration(cfg.Timing.Lease), FailoverTimeout: api.Duration(cfg.Timing.FailoverTimeout),
		Fencing: string(cfg.Fencing.Mode), SelfFenceAction: string(cfg.Fencing.SelfFenceAction),
		RaftHeartbeatTimeout: api.Duration(b.RaftHeartbeatTimeout), RaftElectionTimeout: api.Duration(b.RaftElectionTimeout), RaftLeaderLease: api.Duration(b.RaftLeaderLease),
		OwnerFollower: stepResults(b.OwnerFollower), OwnerLeaderExtra: stepResults(b.OwnerLeaderExtra),
		TotalOwnerFollower: totalResult{api.Duration(ft), api.Duration(fw), fb},
		TotalOwnerLeader:   totalResult{api.Duration(ft + lt), api.Duration(fw + lw), fb},
		SelfFence:          api.Duration(b.SelfFence), RelayMargin: api.Duration(b.RelayMargin),
		Warnings: append(cfg.Warnings(), b.Warnings...),
	}
	for _, t := range b.LeaseOnlyWait {
		r.LeaseOnlyWaitTerms = append(r.LeaseOnlyWaitTerms, termResult{t.Term, api.Duration(t.D), t.Why})
		r.LeaseOnlyWait += api.Duration(t.D)
	}
	return r
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
