package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
)

// standbyCommand is `raftha members standby NODE` (standby true) or
// `raftha members unstandby NODE`.
func standbyCommand(standby bool) *cli.Command {
	name, usage := "standby", "drain a node for maintenance: its groups move away by planned moves, it keeps voting"
	desc := `Puts the node on standby (Pacemaker's pcs node standby, CLUSTERPRO's server
suspend). It stays a Raft voter and keeps heartbeating, but the leader places
no group on it and never fails a group back to it, and moves each group it
owns to the next healthy node of the group's list that is not on standby,
by a planned move: the node stops the group, and only then does the other
node start it (no fence). A group with no such node stays where it is, with a
standby-stays event (see raftha status and raftha why); a suspended group
is not moved until it is resumed. If the owner of a
group crashes and the standby node is the only one left, the group still
fails over to it: availability over maintenance. A witness cannot be put
on standby: it owns no group.`
	if !standby {
		name, usage = "unstandby", "end a node's standby: it may own groups again"
		desc = `Takes the node off standby: the leader may place groups on it again and fail
groups back to it (failback: true groups whose first node it is). Nothing
else moves back by itself; move a group with raftha ownership transfer.`
	}
	return &cli.Command{
		Name:        name,
		Usage:       usage,
		ArgsUsage:   "NODE",
		Description: desc,
		Flags:       clientFlags(),
		Action: apiAction(1, usagef("members %s takes one NODE id, e.g. `raftha members %s n1`", name, name), 30*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
			call := cl.Standby
			if !standby {
				call = cl.Unstandby
			}
			r, err := call(ctx, c.Args().First())
			if err != nil {
				return err
			}
			return emit(c, r, func(w io.Writer) {
				switch {
				case !r.Standby:
					fmt.Fprintf(w, "%s is no longer on standby: groups may be placed on it again\n", r.Member)
				case len(r.Moving) == 0:
					fmt.Fprintf(w, "%s is on standby: it owns no running group; nothing new is placed on it\n", r.Member)
				default:
					fmt.Fprintf(w, "%s is on standby: the leader moves %s away by planned moves (follow with `raftha status`)\n", r.Member, strings.Join(r.Moving, ", "))
				}
			})
		}),
	}
}

// memberState is a member's state for a table: STANDBY while the node is
// on standby.
func memberState(m api.MemberStatus) string {
	st := m.State
	if m.Standby != nil {
		st += " (STANDBY)"
	}
	// A member the leader cannot hear from but whose disk heartbeat
	// another node still sees: its network link is down, not the node.
	if m.DiskHeartbeatMS != nil && !m.Healthy && m.State != "unknown" {
		st += fmt.Sprintf(" (disk heartbeat %s ago, seen by %s)", (time.Duration(*m.DiskHeartbeatMS) * time.Millisecond).Round(100*time.Millisecond), m.DiskSeenBy)
	}
	return st
}

// printStandby prints one line per member on standby, after the members
// table of raftha status.
func printStandby(w io.Writer, members []api.MemberStatus) {
	for _, m := range members {
		if m.Standby == nil {
			continue
		}
		by := ""
		if m.Standby.By != "" {
			by = " by " + m.Standby.By
		}
		fmt.Fprintf(w, "STANDBY: %s since %s%s: it votes but owns nothing new (end with `raftha members unstandby %s`)\n", m.ID, m.Standby.Since.Local().Format("2006-01-02 15:04:05"), by, m.ID)
	}
}
