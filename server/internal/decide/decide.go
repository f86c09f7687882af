package decide

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// Input is what one leader pass decides from.
type Input struct {
	// State is the applied state the pass reads (never written).
	State *fsm.State
	// Contacts is the leader's failure detector, with its clock.
	Contacts *Contacts
	// Settings are the cluster's settings in the log (this member's own
	// until the first leader seeded them): the lease-only wait comes from
	// them, never from one member's configuration.
	Settings fsm.ClusterSettings
}

// Rule names the leader rule that applied to a group in a pass.
type Rule string

// The leader's rules, in the order Next tries them.
const (
	// RuleNone: no rule applies (an online group where it belongs, or a
	// state the leader leaves to the owner).
	RuleNone Rule = ""
	// RuleSuspended: maintenance, no automatic action at all.
	RuleSuspended Rule = "suspended"
	// RulePlace: an offline group goes to the first healthy node of its
	// list.
	RulePlace Rule = "place"
	// RuleTakeover: the owner is lost; a fenced takeover. The leader
	// decides it again under its contact lock (see Takeover).
	RuleTakeover Rule = "takeover"
	// RuleRecover: a failed group moves to the next node, fenced when
	// its stop failed.
	RuleRecover Rule = "recover"
	// RuleEvacuate: the owner is leaving or no longer in the group's
	// nodes; a planned move.
	RuleEvacuate Rule = "evacuate"
	// RuleStandby: the owner is on standby; a planned move off it.
	RuleStandby Rule = "standby"
	// RuleFailback: a failback group goes home once home has been
	// healthy for two failover timeouts.
	RuleFailback Rule = "failback"
)

// Action is what the leader does with a decision.
type Action string

// The leader's actions.
const (
	// None: nothing this pass.
	None Action = ""
	// Wait: nothing this pass, but a rule is waiting for time to pass
	// (a failback delay, a preferred node a new leader has not heard from).
	Wait Action = "wait"
	// Assign commits fsm.Assign (placement, takeover, recovery).
	Assign Action = "assign"
	// Transfer commits fsm.BeginTransfer (evacuation, failback).
	Transfer Action = "transfer"
	// StandbyMove commits fsm.StandbyMove.
	StandbyMove Action = "standby-move"
	// TakeBack hands a fencing group whose winner is lost back to its
	// fence target once it proves it runs nothing (the leader's
	// fence-back check).
	TakeBack Action = "take-back"
	// Note records an event of kind Kind, once per group epoch.
	Note Action = "note"
	// NoNodeLeft: a failed group has no node left; the leader retries it
	// automatically when due (AutoRetry) or records a no-node event.
	NoNodeLeft Action = "no-node-left"
	// Retry commits fsm.RetryFailed: FailedOn is forgotten and the group
	// goes to To at a new epoch.
	Retry Action = "retry"
	// Check records the fence-target check event (fsm.KindFenceTargetCheck
	// about node To): a heartbeat of To that applied it was built after
	// the decision (TakeBackProof).
	Check Action = "check"
)

// Decision is the leader's decision for one group in one pass.
type Decision struct {
	// Rule is the rule that applied.
	Rule Rule
	// Action is what to commit or record.
	Action Action
	// To is the node the group goes to (Assign, Transfer, StandbyMove,
	// TakeBack).
	To string
	// Cause is the ownership change's cause.
	Cause fsm.Cause
	// Fence is set on a fenced takeover: the winner fences the loser
	// before it starts.
	Fence bool
	// FenceWait is how long the winner waits in lease-only mode.
	FenceWait time.Duration
	// FenceSilence is how long the lost owner had been silent.
	FenceSilence time.Duration
	// TargetIdle is set on a takeover back to the fence target, which
	// proved it runs nothing of the group.
	TargetIdle bool
	// Kind is a Note's event kind.
	Kind fsm.EventKind
	// Reason says why, for the log entry and the event.
	Reason string
}

// Next is the leader's decision for g in this pass. The first rule that
// matches applies: suspended, offline, owner lost, failed, owner leaving
// or removed from the nodes, owner on standby, failback.
func Next(in Input, g *fsm.Group) Decision {
	c, gs := in.Contacts, g.Status
	var d Decision
	switch {
	case gs.Suspended:
		d = suspended(in, g)
	case gs.State == fsm.StateOffline:
		d = Place(in, g)
	case gs.Active() && gs.Owner != "" && c.Lost(gs.Owner):
		// Concurrently in the leader: raft commits the pass's
		// takeovers in one batch, so the winner fences a lost owner
		// once for all its groups, not once per commit.
		d = Takeover(in, g)
	case gs.State == fsm.StateFailed:
		d = Recover(in, g)
	case gs.State == fsm.StateOnline && (c.Leaving(gs.Owner) || !g.HasNode(gs.Owner)):
		d = Evacuate(in, g)
	case gs.State == fsm.StateOnline && in.State.OnStandby(gs.Owner):
		d = StandbyEvacuate(in, g)
	case gs.State == fsm.StateOnline && g.Spec.Failback:
		d = Failback(in, g)
	}
	return d
}

// suspended: maintenance, no automatic action at all; an owner whose
// lease runs out still fences itself. A lost owner is noted.
func suspended(in Input, g *fsm.Group) Decision {
	gs := g.Status
	d := Decision{Rule: RuleSuspended}
	if gs.Active() && gs.Owner != "" && in.Contacts.Lost(gs.Owner) {
		d.Action, d.Kind = Note, fsm.KindTakeoverSkipped
		d.Reason = fmt.Sprintf("%s lost but group %s is suspended: no takeover until `raftha group resume %s`", gs.Owner, g.Spec.Name, g.Spec.Name)
	}
	return d
}

// Place assigns an offline group to the first healthy node of its list
// that may own it, is not leaving and not on standby. A node a new leader
// has not heard from yet, and not lost, is waited for: it is preferred.
func Place(in Input, g *fsm.Group) Decision {
	c, st := in.Contacts, in.State
	for _, n := range g.Spec.Nodes {
		if st.Eligible(g, n) != nil || c.Leaving(n) || st.OnStandby(n) {
			continue
		}
		if !c.Healthy(n) {
			if !c.Heard(n) && !c.Lost(n) {
				return Decision{Rule: RulePlace, Action: Wait, To: n, Reason: "a new leader has not heard from " + n + " yet: wait, it is preferred"}
			}
			continue
		}
		return Decision{Rule: RulePlace, Action: Assign, To: n, Cause: fsm.CausePlacement, Reason: "first healthy node of " + JoinNodes(g.Spec.Nodes)}
	}
	var standby []string
	for _, n := range g.Spec.Nodes {
		if st.OnStandby(n) {
			standby = append(standby, n)
		}
	}
	if len(standby) == 0 {
		return Decision{Rule: RulePlace}
	}
	return Decision{Rule: RulePlace, Action: Note, Kind: fsm.KindNoNode, Reason: fmt.Sprintf("group %s stays offline: no healthy node of %s may take it and %s on standby (`raftha members unstandby NODE`)", g.Spec.Name, JoinNodes(g.Spec.Nodes), strings.Join(standby, ", ")+" "+isAre(len(standby)))}
}

// Takeover moves a group away from a lost owner: a fenced Assign to the
// winner (new epoch, state fencing, the node to fence), with the
// lease-only wait less the silence already measured. The leader calls it
// under its contact lock, so that a renewal of the owner's lease is
// ordered before the silence is measured or after the decision is in the
// log. With no winner it hands a fencing group back to its fence target
// when that node is fit (TakeBack), else notes that no node can take
// over.
func Takeover(in Input, g *fsm.Group) Decision {
	c, st, owner := in.Contacts, in.State, g.Status.Owner
	d := Decision{Rule: RuleTakeover}
	if owner != "" && !c.Lost(owner) {
		return d // heard from since the leader loop looked
	}
	silence := c.LastContact(owner)
	fenceNode := ""
	if g.Status.State == fsm.StateFencing {
		fenceNode = g.Status.FenceNode // it cannot fence itself
	}
	w := Winner(st, c, g, owner, fenceNode)
	if w == "" && fenceNode != "" && st.Eligible(g, fenceNode) == nil && c.Healthy(fenceNode) && !c.Leaving(fenceNode) {
		d.Action, d.To = TakeBack, fenceNode
		return d
	}
	if w == "" {
		d.Action, d.Kind = Note, fsm.KindNoNode
		d.Reason = fmt.Sprintf("%s lost (not heard from for %s) and no other healthy node of %v can take the group over", owner, silence.Round(time.Millisecond), g.Spec.Nodes)
		return d
	}
	fo := c.Timing().FailoverTimeout
	reason := fmt.Sprintf("%s not heard from for %s (failover_timeout %s)", owner, silence.Round(time.Millisecond), fo)
	if !c.Heard(owner) {
		reason = fmt.Sprintf("%s not heard from since this leader took over %s ago (a new leader waits lease + heartbeat)", owner, silence.Round(time.Millisecond))
		if c.PrevLeaderGone(owner) {
			reason = fmt.Sprintf("%s, the previous leader, last answered %s ago (failover_timeout %s); not heard from since this leader took over %s ago", owner, c.PrevLeaderSilence().Round(time.Millisecond), fo, silence.Round(time.Millisecond))
		}
	}
	d.Action, d.To, d.Cause, d.Fence = Assign, w, fsm.CauseNodeLost, true
	d.FenceWait, d.FenceSilence = FenceWait(in.Settings, silence), silence
	d.Reason = reason + LastResort(st, w)
	return d
}

// Report is the last heartbeat report of a node, on the leader: when it
// came, the log index its view had applied, and the groups it runs (by
// epoch; 0: cannot vouch).
type Report struct {
	// At is when the leader received it.
	At time.Time
	// Applied is the sender's applied log index when it built it.
	Applied uint64
	// Running lists the groups built, running or not yet checked there.
	Running map[string]uint64
}

// TakeBackProof decides for a fencing group whose winner is lost when the
// only node that could take it over is the node being fenced (Takeover's
// TakeBack). That node may take it back once it proves it runs nothing
// for the group: the leader records a check event (Check; check is 0
// until then, else the log index that includes it), then waits for a
// report from the node built after that index (rep, ok) that lists
// nothing running for the group. Only then a fenced Assign to it with
// TargetIdle (cause fence-target-idle). A target whose stop failed proves
// nothing by its word: noted, never taken back.
func TakeBackProof(in Input, g *fsm.Group, check uint64, rep Report, ok bool) Decision {
	gs := g.Status
	node, name := gs.FenceNode, g.Spec.Name
	d := Decision{Rule: RuleTakeover, To: node}
	switch {
	case gs.FenceStopFailed:
		d.Action, d.Kind = Note, fsm.KindNoNode
		d.Reason = fmt.Sprintf("%s is lost while fencing %s, whose stop of group %s failed; no other healthy node can take over, and %s's word proves nothing: fence it by hand and run `raftha group fence-override %s --accept-risk REASON`", gs.Owner, node, name, node, name)
	case check == 0:
		d.Action = Check
		d.Reason = fmt.Sprintf("%s is lost while fencing %s and no other healthy node can take group %s over; waiting for %s to prove, by a heartbeat sent after this event, that it runs nothing for the group", gs.Owner, node, name, node)
	case !ok || rep.Applied < check:
		d.Action = Wait // no report built after the check yet
	default:
		if e, running := rep.Running[name]; running {
			d.Action, d.Kind = Note, fsm.KindFenceTargetBusy
			d.Reason = fmt.Sprintf("%s, the node being fenced, reports group %s built, running or not yet checked there (epoch %d); it cannot take it back until it reports nothing", node, name, e)
			return d
		}
		d.Action, d.Cause, d.Fence, d.TargetIdle = Assign, fsm.CauseFenceTargetIdle, true, true
		d.Reason = fmt.Sprintf("%s, the winner, is lost while fencing %s; %s proved by a heartbeat (log index %d >= check %d, %s ago) that it runs nothing for %s", gs.Owner, node, node, rep.Applied, check, in.Contacts.Now().Sub(rep.At).Round(time.Millisecond), name)
	}
	return d
}

// Recover moves a failed group to the next healthy node where it has not
// failed yet. A group whose resources could not be stopped is moved only
// by a fenced takeover (cause stop-failed). With no node left, a fenced
// one is noted; an unfenced one is NoNodeLeft (automatic retry or note).
func Recover(in Input, g *fsm.Group) Decision {
	c, st, gs := in.Contacts, in.State, g.Status
	d := Decision{Rule: RuleRecover}
	if gs.StopFailed {
		w := Winner(st, c, g, gs.Owner)
		if w == "" {
			d.Action, d.Kind = Note, fsm.KindNoNode
			d.Reason = fmt.Sprintf("group %s could not be stopped on %s and no other healthy node can fence it and take over; it stays there, stopped as far as raftha could", g.Spec.Name, gs.Owner)
			return d
		}
		d.Action, d.To, d.Cause, d.Fence = Assign, w, fsm.CauseStopFailed, true
		d.FenceWait = FenceWait(in.Settings, 0)
		d.Reason = gs.Reason + LastResort(st, w)
		return d
	}
	w := Winner(st, c, g, gs.FailedOn...)
	if w == "" {
		d.Action = NoNodeLeft
		return d
	}
	d.Action, d.To, d.Cause = Assign, w, fsm.CauseFailure
	d.Reason = gs.Reason + LastResort(st, w)
	return d
}

// AutoRetry places again a group that failed on every node where it could
// run (NoNodeLeft), once its retry_failed_after has passed since the
// leader first saw it so (failedSince, called only for a group that may
// be retried: it starts the leader's count). It never applies to a group
// whose stop failed (only a fenced takeover moves that one), to a
// suspended one, or with retry_failed_after 0. The group goes to the
// first healthy node of its list (Winner).
func AutoRetry(in Input, g *fsm.Group, failedSince func() time.Time) Decision {
	gs := g.Status
	d := Decision{Rule: RuleRecover}
	if !Retryable(g) {
		return d
	}
	if in.Contacts.Now().Sub(failedSince()) < g.Spec.RetryFailedAfter {
		d.Action = Wait
		return d
	}
	w := Winner(in.State, in.Contacts, g)
	if w == "" {
		return d
	}
	d.Action, d.To, d.Cause = Retry, w, fsm.CauseAutoRetry
	d.Reason = fmt.Sprintf("failed on %v, retried automatically after retry_failed_after %s (last failure: %s)", gs.FailedOn, g.Spec.RetryFailedAfter, gs.Reason)
	return d
}

// Retryable reports whether g is failed in a way AutoRetry may undo: not
// stop-failed, not suspended, with retry_failed_after set.
func Retryable(g *fsm.Group) bool {
	gs := g.Status
	return gs.State == fsm.StateFailed && !gs.StopFailed && !gs.Suspended && g.Spec.RetryFailedAfter > 0
}

// Evacuate starts a planned move of a group away from its owner, leaving
// (cause shutdown) or removed from the group's nodes (nodes-changed). A
// node on standby only when no other can take it (Winner).
func Evacuate(in Input, g *fsm.Group) Decision {
	d := Decision{Rule: RuleEvacuate}
	n := Winner(in.State, in.Contacts, g, g.Status.Owner)
	if n == "" {
		return d
	}
	d.Action, d.To, d.Cause = Transfer, n, fsm.CauseShutdown
	if !g.HasNode(g.Status.Owner) {
		d.Cause = fsm.CauseNodesChanged
	}
	return d
}

// StandbyEvacuate starts the planned move of an online group off its
// standby owner, to the first fit node of its list that is not on standby
// and where it has not failed (moving it back there would only fail and
// return it to the standby node). With none, the group stays, noted.
func StandbyEvacuate(in Input, g *fsm.Group) Decision {
	gs := g.Status
	d := Decision{Rule: RuleStandby}
	to := Pick(in.State, in.Contacts, g, false, append([]string{gs.Owner}, gs.FailedOn...)...)
	if to == "" {
		d.Action, d.Kind = Note, fsm.KindStandbyStays
		d.Reason = fmt.Sprintf("%s is on standby but no other healthy node of %s that is not on standby can take group %s; it stays online on %s", gs.Owner, JoinNodes(g.Spec.Nodes), g.Spec.Name, gs.Owner)
		return d
	}
	d.Action, d.To, d.Cause = StandbyMove, to, fsm.CauseStandby
	return d
}

// Failback moves a failback group home (its first node) once home has
// been healthy for two failover timeouts, to ride out flapping.
func Failback(in Input, g *fsm.Group) Decision {
	c, st := in.Contacts, in.State
	d := Decision{Rule: RuleFailback}
	home := g.Spec.Nodes[0]
	if g.Status.Owner == home || st.Eligible(g, home) != nil || !c.Healthy(home) || c.Leaving(home) || st.OnStandby(home) {
		return d
	}
	if up, delay := c.HealthyFor(home), 2*c.Timing().FailoverTimeout; up < delay {
		d.Action, d.To = Wait, home
		d.Reason = fmt.Sprintf("%s healthy for %s; failback after %s", home, up.Round(time.Millisecond), delay)
		return d
	}
	d.Action, d.To, d.Cause = Transfer, home, fsm.CauseFailback
	return d
}

// Winner picks the first node of the group's list that may take it over:
// one that is not on standby, else (availability over maintenance) one
// that is.
func Winner(st *fsm.State, c *Contacts, g *fsm.Group, exclude ...string) string {
	if w := Pick(st, c, g, false, exclude...); w != "" {
		return w
	}
	return Pick(st, c, g, true, exclude...)
}

// Pick is the first node of g's list, not in exclude, that may own g, is
// healthy and not leaving; a node on standby only when standbyOK.
func Pick(st *fsm.State, c *Contacts, g *fsm.Group, standbyOK bool, exclude ...string) string {
	for _, n := range g.Spec.Nodes {
		if slices.Contains(exclude, n) || (!standbyOK && st.OnStandby(n)) {
			continue
		}
		if st.Eligible(g, n) == nil && c.Healthy(n) && !c.Leaving(n) {
			return n
		}
	}
	return ""
}

// FenceWait is the FenceWait of a fenced takeover decided silence after
// the lost owner was last heard from, computed from the cluster's
// settings in the log (never from this leader's own configuration: a
// witness configured aws-stop must not decide a lease-only takeover
// without waiting). It is 0 outside lease-only mode.
func FenceWait(cs fsm.ClusterSettings, silence time.Duration) time.Duration {
	if cs.FencingMode != fsm.FencingLeaseOnly {
		return 0
	}
	return max(0, config.LeaseOnlyWaitOf(cs)-silence)
}

// LastResort is what a takeover's or recovery's reason adds when its
// winner is on standby.
func LastResort(st *fsm.State, winner string) string {
	if !st.OnStandby(winner) {
		return ""
	}
	return fmt.Sprintf("; %s is on standby but no other node can take the group: availability over maintenance", winner)
}

// JoinNodes formats a node list as [a b c].
func JoinNodes(n []string) string {
	return "[" + strings.Join(n, " ") + "]"
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// Voter is one server of the Raft configuration, in its order.
type Voter struct {
	// ID is the member id.
	ID string
	// Voter is false for a non-voter.
	Voter bool
}

// HandOver picks the member this leader (self, of role selfRole) hands
// leadership to, or "" to keep it. A witness may lead (raft cannot stop a
// voter from winning) but only orchestrates, so it hands leadership to a
// node. A node that leads and owns groups hands it to a healthy node that
// owns none: if an owner also leads, losing it costs an election on top of
// the failover. The recipient owns nothing, so it never hands back. Not
// before this leader has led for failover_timeout, nor within two failover
// timeouts of its last hand-over (lastHandover). The recipient is a voter
// with role node, not on standby, healthy, reached directly (a transfer
// needs the direct path) and not leaving. configuration returns the Raft
// configuration's servers (false: unknown, keep leadership); it is called
// only once the cheaper checks passed.
func HandOver(st *fsm.State, c *Contacts, selfRole fsm.Role, lastHandover time.Time, configuration func() ([]Voter, bool)) string {
	fo := c.Timing().FailoverTimeout
	if c.Led() < fo || c.Now().Sub(lastHandover) < 2*fo {
		return ""
	}
	owners := map[string]bool{}
	for _, g := range st.Groups {
		if g.Status.Active() {
			owners[g.Status.Owner] = true
		}
	}
	if selfRole == fsm.RoleNode && !owners[c.self] {
		return ""
	}
	servers, ok := configuration()
	if !ok {
		return ""
	}
	// A copy: the caller's slice may be shared with other readers.
	servers = append([]Voter(nil), servers...)
	sort.SliceStable(servers, func(i, j int) bool { return !owners[servers[i].ID] && owners[servers[j].ID] })
	for _, srv := range servers {
		id := srv.ID
		m, ok := st.Members[id]
		if id == c.self || !srv.Voter || !ok || m.Role != fsm.RoleNode || m.Standby != nil || !c.Healthy(id) || !c.ReachedDirectly(id) || c.Leaving(id) {
			continue
		}
		if selfRole == fsm.RoleNode && owners[id] {
			return "" // every other node owns something too: stay
		}
		return id
	}
	return ""
}
