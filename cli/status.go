package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// exitStale is the exit status of `raftha status` when the view did not
// come from a ready leader (no quorum, or the leader did not answer) and
// --local was not given.
const exitStale = 4

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show members, groups and recent events",
		Description: `Shows the cluster as the leader sees it: each member's role, state and
health, each group's owner, epoch and state, and the latest events.
Ask any member (--api); followers forward to the leader. When no leader
answers, the member shows what its own log holds, marked STALE with its
age (since it last heard from a leader, or since its last log entry), and
the first line says NO LEADER. --local asks for that member's own view
on purpose.

Exit status:
  0  the view comes from the ready leader (or --local was given)
  1  the API could not be asked
  4  the view is STALE: no leader answered`,
		Flags: append(append(clientFlags(),
			&cli.IntFlag{Name: "events", Value: 10, Usage: "how many recent events to show (0 for none)"},
			&cli.BoolFlag{Name: "local", Usage: "show the asked member's own view (never forwarded) and exit 0 even when it is stale"},
		), watchFlags()...),
		Action: viewAction("status", 15*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client, w io.Writer) error {
			get := cl.Status
			if c.Bool("local") {
				get = cl.LocalStatus
			}
			st, err := get(ctx)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(st); err != nil {
					return err
				}
			} else {
				printStatus(w, st, c.Int("events"))
				// The member asked also shows its own AWS permission
				// checks when one is not allowed (the others: their
				// /v1/health).
				if h, err := cl.Health(ctx); err == nil {
					printPermissionProblems(w, h)
				}
			}
			if st.Stale && !c.Bool("local") {
				return cli.Exit(fmt.Sprintf("the view is STALE (%s); pass --local to accept %s's own view", st.StaleReason, st.AnsweredBy), exitStale)
			}
			return nil
		}),
	}
}

// staleLine is the first line of a stale view: no leader (or which one
// did not answer), whose log the view comes from, and how old it is.
func staleLine(st *api.Status) string {
	age := "of unknown age"
	if st.StaleSince != nil {
		d := time.Duration(st.StaleAgeMS) * time.Millisecond
		if d >= 10*time.Second {
			d = d.Round(time.Second)
		} else {
			d = d.Round(10 * time.Millisecond)
		}
		age = d.String() + " old"
	}
	if st.Leader == "" {
		return fmt.Sprintf("NO LEADER: %s knows no leader (no quorum, or an election); STALE view from its own log, %s (%s)", st.AnsweredBy, age, st.StaleBasis)
	}
	return fmt.Sprintf("STALE: view from %s's own log, not from leader %s; %s (%s)", st.AnsweredBy, st.Leader, age, st.StaleBasis)
}

func printStatus(w io.Writer, st *api.Status, events int) {
	leader := st.Leader
	if leader == "" {
		leader = "(none)"
	}
	if st.Stale {
		fmt.Fprintln(w, staleLine(st))
		fmt.Fprintf(w, "  why: %s\n", st.StaleReason)
		if st.Unconfirmed > 0 {
			fmt.Fprintf(w, "  %d entries of this view are in its log but not known to be committed\n", st.Unconfirmed)
		}
	}
	index := "applied index"
	if st.Stale {
		index = "log index" // the view includes entries not known to be committed
	}
	fmt.Fprintf(w, "Leader: %s   term %d   %s %d   answered by %s\n", leader, st.Term, index, st.Index, st.AnsweredBy)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tROLE\tSTATE\tHEALTHY\tLAST CONTACT\tADDRESS\tINSTANCE")
	for _, m := range st.Members {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Role, memberState(m), yesNo(m.Healthy, st.Stale), ms(m.LastContactMS, st.Stale), m.Address, dash(m.InstanceID))
	}
	tw.Flush()
	printStandby(w, st.Members) // standby.go
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tOWNER\tEPOCH\tSTATE\tNODES\tREASON")
	if len(st.Groups) == 0 {
		fmt.Fprintln(tw, "(no groups: apply some with `raftha group apply -f groups.yaml`)")
	}
	var suspended []string
	for _, g := range st.Groups {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", g.Name, dash(g.Owner), g.Epoch, groupState(g), strings.Join(g.Nodes, ","), dash(g.Reason))
		printResourceRows(tw, g) // resstatus.go
		if g.Suspended {
			suspended = append(suspended, g.Name)
		}
	}
	tw.Flush()
	if len(suspended) > 0 {
		fmt.Fprintf(w, "\nMAINTENANCE: %s suspended: no monitoring, no automatic action (resume with `raftha group resume GROUP`)\n", strings.Join(suspended, ", "))
	}
	if events > 0 && len(st.Events) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Recent events:")
		evs := st.Events
		if len(evs) > events {
			evs = evs[len(evs)-events:]
		}
		for _, e := range evs {
			fmt.Fprintf(w, "  %s  %s\n", e.At.Local().Format("15:04:05.000"), describeEvent(string(e.Kind), e.Group, e.Node, e.From, e.To, e.Epoch, string(e.Cause), e.Reason, e.By))
		}
	}
}

// groupState is a group's state for a table: SUSPENDED while the group
// is in maintenance, and its retries: the start retries made at this
// epoch, or when the leader retries a group failed everywhere.
func groupState(g api.GroupStatus) string {
	s := string(g.State)
	if g.Suspended {
		s += " (SUSPENDED)"
	}
	if g.StartRetriesDone > 0 && (g.State == fsm.StateStarting || g.State == fsm.StateFailed) {
		s += fmt.Sprintf(" (start retry %d/%d)", g.StartRetriesDone, g.StartRetries)
	}
	if g.NextRetry != nil {
		s += " (auto-retry at " + g.NextRetry.Local().Format("15:04:05") + ")"
	}
	return s
}

func describeEvent(kind, group, node, from, to string, epoch uint64, cause, reason, by string) string {
	var b strings.Builder
	b.WriteString(kind)
	if group != "" {
		fmt.Fprintf(&b, " group=%s", group)
	}
	if node != "" {
		fmt.Fprintf(&b, " node=%s", node)
	}
	if from != "" || to != "" {
		fmt.Fprintf(&b, " %s→%s", dash(from), dash(to))
	}
	if epoch != 0 {
		fmt.Fprintf(&b, " epoch=%d", epoch)
	}
	if cause != "" {
		fmt.Fprintf(&b, " cause=%s", cause)
	}
	if reason != "" {
		fmt.Fprintf(&b, " (%s)", reason)
	}
	if by != "" {
		fmt.Fprintf(&b, " by %s", by)
	}
	return b.String()
}

func yesNo(b, unknown bool) string {
	if unknown {
		return "?"
	}
	if b {
		return "yes"
	}
	return "NO"
}

func ms(v int64, unknown bool) string {
	if unknown {
		return "?"
	}
	return (time.Duration(v) * time.Millisecond).String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printPermissionProblems prints the start-up AWS permission checks of
// the member h that were denied or gave no verdict.
func printPermissionProblems(w io.Writer, h *api.Health) {
	for _, p := range h.AWSPermissions {
		if p.Result == "allowed" || p.Result == "checking" {
			continue
		}
		fmt.Fprintf(w, "AWS permission of %s: %s %s on %s (%s)\n", h.ID, p.Action, strings.ToUpper(p.Result), p.Target, dash(p.Code))
	}
}
