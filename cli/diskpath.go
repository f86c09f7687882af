package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources/builtin"
)

// groupsFlag is --groups FILE of `config check` and `timing explain`.
func groupsFlag() cli.Flag {
	return &cli.StringFlag{Name: "groups", Aliases: []string{"g"}, Usage: "also check the disk locks of group `FILE` (as for group apply -f) against these timings"}
}

// checkGroupLocks parses a group file strictly and checks its disk locks
// against cs, every problem in one pass: problems are an error naming
// FILE:LINE; warnings come back as "FILE:LINE: PATH: MSG" lines.
func checkGroupLocks(file string, cs fsm.ClusterSettings) ([]groupfile.DiskLock, []string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	reg := builtin.Registry()
	specs, root, errs := groupfile.Parse(data, reg)
	lerrs, warns := groupfile.CheckDiskLocks(root, specs, reg, cs)
	if errs = append(errs, lerrs...); len(errs) > 0 {
		errs.SortByLine()
		return nil, nil, fmt.Errorf("%s is invalid: %d problem(s):\n%w", file, len(errs), errs.WithFile(file))
	}
	var out []string
	for _, w := range warns {
		out = append(out, yamlstrict.ErrorList{w}.WithFile(file).Error())
	}
	return groupfile.DiskLocks(specs, reg), out, nil
}

// diskPathResult is one disk lock in `raftha timing explain --json`.
type diskPathResult struct {
	Group         string       `json:"group"`
	Resource      string       `json:"resource"`
	LockDevice    string       `json:"lock_device"`
	IOTimeout     api.Duration `json:"lock_io_timeout"`
	Settle        api.Duration `json:"lock_settle"`
	LostAfter     api.Duration `json:"lock_lost_after"`
	Acquire       []stepResult `json:"acquire"`
	Superseded    api.Duration `json:"superseded_within"`
	SelfFence     api.Duration `json:"self_fence"`
	Pill          []stepResult `json:"pill,omitempty"`
	LeaseOnlyWait api.Duration `json:"lease_only_wait,omitempty"`
}

func diskPathResultOf(d groupfile.DiskLock, p config.DiskPath) diskPathResult {
	return diskPathResult{Group: d.Group, Resource: d.Resource, LockDevice: d.Layout.LockDevice,
		IOTimeout: api.Duration(d.Layout.IOTimeout), Settle: api.Duration(p.Settle), LostAfter: api.Duration(d.Layout.LostAfter),
		Acquire: stepResults(p.Acquire), Superseded: api.Duration(p.Superseded), SelfFence: api.Duration(p.SelfFence),
		Pill: stepResults(p.Pill), LeaseOnlyWait: api.Duration(p.LeaseOnlyWait)}
}

func stepResults(in []config.BudgetStep) []stepResult {
	out := make([]stepResult, len(in))
	for i, s := range in {
		out[i] = stepResult{s.Step, api.Duration(s.Typical), api.Duration(s.Worst), s.Note}
	}
	return out
}

// confirmedAfter is how long after an owner's last contact its takeover
// is typically confirmed: the detect, commit and confirm steps of b.
func confirmedAfter(b config.Budget) time.Duration {
	var d time.Duration
	for _, s := range b.OwnerFollower[:min(3, len(b.OwnerFollower))] {
		d += s.Typical
	}
	return d
}

// printDiskPath prints the disk path of one lock_device; confirmed is
// confirmedAfter of the member's budget.
func printDiskPath(w io.Writer, cs fsm.ClusterSettings, d groupfile.DiskLock, p config.DiskPath, confirmed time.Duration) {
	l := d.Layout
	fmt.Fprintf(w, "\nDisk path of group %s, resource %s: lock_device %s\n", d.Group, d.Resource, l.LockDevice)
	settleWhy := "set"
	if l.Settle == 0 {
		settleWhy = fmt.Sprintf("2 x heartbeat %s + lock_io_timeout", cs.Heartbeat)
	}
	fmt.Fprintf(w, "lock_io_timeout %s, lock_settle %s (%s), lock_lost_after %s\n\n", l.IOTimeout, p.Settle, settleWhy, l.LostAfter)
	printSteps(w, "Start on the winner, before fsck and mount", p.Acquire)
	t, worst, _ := config.Total(p.Acquire)
	fmt.Fprintf(w, "  = disk lock taken: typical %s, worst %s (on top of the takeover above)\n\n", t.Round(time.Millisecond), worst)
	fmt.Fprintf(w, "A holder that can read its disk sees a newer owner's epoch within heartbeat + lock_io_timeout = %s of its write, then stops within stop_deadline %s.\n", p.Superseded, cs.StopDeadline)
	fmt.Fprintf(w, "A holder that cannot read its lock partition gives the group up lock_lost_after %s after its last good read; one cut off from the leader stops acting %s after its last heartbeat (lease %s + stop_deadline + self-fence grace).\n", l.LostAfter, p.SelfFence, cs.Lease)
	if len(p.Pill) == 0 {
		fmt.Fprintln(w, "fencing.mode aws-stop: the winner does not wait for the loser's disk slot (no poison pill); EC2 StopInstances fences it.")
		return
	}
	fmt.Fprintln(w)
	printSteps(w, "Lease-only, poison pill (best case: the loser is alive and reads its slot)", p.Pill)
	t, worst, _ = config.Total(p.Pill)
	fmt.Fprintf(w, "  = pill acknowledged: typical %s + the loser's stop, worst %s after the takeover is confirmed\n", t.Round(time.Millisecond), worst)
	fmt.Fprintf(w, "Worst case (a paused or disk-cut-off loser cannot acknowledge): the lease-only wait, %s after the loser's last contact. The winner proceeds at whichever comes first.\n", p.LeaseOnlyWait)
	if ack := confirmed + t; ack < p.LeaseOnlyWait {
		fmt.Fprintf(w, "From the loser's last contact: takeover confirmed after about %s, pill acknowledged after about %s + the loser's stop; a loser whose stop takes less than %s acknowledges before the lease-only wait ends.\n",
			confirmed.Round(time.Millisecond), ack.Round(time.Millisecond), (p.LeaseOnlyWait - ack).Round(time.Millisecond))
	}
}
