package decide

import (
	"fmt"
	"strings"
	"time"

	"github.com/raftha/raftha/fsm"
)

// RulePlanned is an operator's planned move (`raftha ownership transfer`):
// not a rule of Next, which never moves a group on its own for this cause,
// but the leader's decision on the operator's request (Planned).
const RulePlanned Rule = "planned"

// Refuse refuses an operator's request: nothing is committed; Reason says
// why.
const Refuse Action = "refuse"

// Planned is the leader's decision on an operator's planned move of g to
// to: refused (Refuse, with the reason) unless to is a node member in g's
// list, healthy, not leaving and not on standby; nothing to do (None) when
// g is already online on to; otherwise a planned move (Transfer, cause
// planned) for the leader to commit at g's epoch.
func Planned(in Input, g *fsm.Group, to string) Decision {
	st, c := in.State, in.Contacts
	refuse := func(format string, a ...any) Decision {
		return Decision{Rule: RulePlanned, Action: Refuse, To: to, Reason: fmt.Sprintf(format, a...)}
	}
	m, ok := st.Members[to]
	switch {
	case !ok:
		return refuse("no member named %q (members: %s)", to, strings.Join(st.MemberIDs(), ", "))
	case m.Role == fsm.RoleWitness:
		return refuse("%s is a witness; a witness votes but never owns a group", to)
	case !g.HasNode(to):
		return refuse("%s is not in group %s's nodes %v; add it to the group file first", to, g.Spec.Name, g.Spec.Nodes)
	case !c.Healthy(to) || c.Leaving(to):
		return refuse("%s is not healthy (%s; failover_timeout %s)", to, c.DescribeContact(to), c.Timing().FailoverTimeout)
	case st.OnStandby(to):
		sb := m.Standby
		by := ""
		if sb.By != "" {
			by = " by " + sb.By
		}
		return refuse("%s is on standby (since %s%s): nothing is placed there; `raftha members unstandby %s` first", to, sb.Since.UTC().Format(time.RFC3339), by, to)
	}
	if g.Status.Owner == to && g.Status.State == fsm.StateOnline {
		return Decision{Rule: RulePlanned, Action: None, To: to, Reason: fmt.Sprintf("group %s is already online on %s", g.Spec.Name, to)}
	}
	return Decision{Rule: RulePlanned, Action: Transfer, To: to, Cause: fsm.CausePlanned, Reason: fmt.Sprintf("planned move of group %s to %s", g.Spec.Name, to)}
}
