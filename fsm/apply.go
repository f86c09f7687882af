package fsm

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Sentinel errors returned in Result.Err's place by Apply. They are
// deterministic outcomes (every replica computes the same one), not
// replica failures.
var (
	ErrNoGroup      = errors.New("no such group")
	ErrNoMember     = errors.New("no such member")
	ErrStaleEpoch   = errors.New("stale epoch")
	ErrNotOwner     = errors.New("not the owner")
	ErrNotEligible  = errors.New("node not eligible")
	ErrBusy         = errors.New("group busy")
	ErrInvalid      = errors.New("invalid")
	ErrRoleMismatch = errors.New("role mismatch")
)

// Result is what Apply returns for one command.
type Result struct {
	// Err is nil when the command took effect.
	Err error
	// Epoch is the group's epoch after the command (for group commands).
	Epoch uint64
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// Apply runs c as the entry at index. It is deterministic: it reads
// nothing but s, c and index.
func (s *State) Apply(index uint64, c Command) Result {
	if index > s.Index {
		s.Index = index
	}
	switch c := c.(type) {
	case *UpsertMember:
		return s.upsertMember(index, c)
	case *RemoveMember:
		return s.removeMember(index, c)
	case *ApplyGroups:
		return s.applyGroups(index, c)
	case *DeleteGroup:
		return s.deleteGroup(index, c)
	case *Assign:
		return s.assign(index, c)
	case *Report:
		return s.report(index, c)
	case *BeginTransfer:
		return s.beginTransfer(index, c)
	case *Fenced:
		return s.fenced(index, c)
	case *Note:
		return s.note(index, c)
	case *SetSuspended:
		return s.setSuspended(index, c)
	case *SetClusterSettings:
		return s.setClusterSettings(index, c)
	case *FenceOverride:
		return s.fenceOverride(index, c)
	case *RetryFailed:
		return s.retryFailed(index, c)
	case *SetStandby:
		return s.setStandby(index, c)
	case *StandbyMove:
		return s.standbyMove(index, c)
	}
	return Result{Err: fmt.Errorf("%w: command %T", ErrInvalid, c)}
}

func (s *State) event(index uint64, h Header, e Event) {
	e.Seq, e.Index, e.At, e.By = s.NextSeq, index, h.At, h.By
	s.NextSeq++
	s.Events = append(s.Events, e)
	if over := len(s.Events) - MaxEvents; over > 0 {
		s.Events = append([]Event(nil), s.Events[over:]...)
	}
}

func (s *State) upsertMember(index uint64, c *UpsertMember) Result {
	m := c.Member
	if !nameRE.MatchString(m.ID) {
		return Result{Err: fmt.Errorf("%w: member id %q", ErrInvalid, m.ID)}
	}
	if m.Role != RoleNode && m.Role != RoleWitness {
		return Result{Err: fmt.Errorf("%w: member %s: role %q is not node or witness", ErrInvalid, m.ID, m.Role)}
	}
	if m.InstanceID != "" {
		for _, id := range s.MemberIDs() {
			if id != m.ID && s.Members[id].InstanceID == m.InstanceID {
				return Result{Err: fmt.Errorf("%w: member %s: instance id %s is already member %s's; two members never share an instance (a fence of one would stop the other)", ErrInvalid, m.ID, m.InstanceID, id)}
			}
		}
	}
	old, ok := s.Members[m.ID]
	if !ok && c.UpdateOnly {
		return Result{Err: fmt.Errorf("%w: member %s is not in the log (removed?); an update does not add it", ErrNoMember, m.ID)}
	}
	if ok {
		if old.Role != m.Role {
			return Result{Err: fmt.Errorf("%w: member %s is registered as %s, not %s; remove it and add it again to change its role", ErrRoleMismatch, m.ID, old.Role, m.Role)}
		}
		changed := false
		for _, f := range []struct {
			dst *string
			v   string
		}{{&old.Address, m.Address}, {&old.API, m.API}, {&old.InstanceID, m.InstanceID}} {
			if f.v != "" && *f.dst != f.v {
				*f.dst, changed = f.v, true
			}
		}
		if changed {
			s.event(index, c.Header, Event{Kind: KindMemberUpdated, Node: m.ID, Reason: describeMember(old)})
			s.addFenceInstance(index, c.Header, old)
		}
		return Result{}
	}
	mm := m
	mm.Standby = nil // only SetStandby sets it
	s.Members[m.ID] = &mm
	s.event(index, c.Header, Event{Kind: KindMemberAdded, Node: m.ID, Reason: fmt.Sprintf("role %s, address %s", m.Role, m.Address)})
	return Result{}
}

// addFenceInstance appends m's instance id to the list of every group
// fencing m: a winner must fence each instance m had since the decision,
// not only the one it reports now.
func (s *State) addFenceInstance(index uint64, h Header, m *Member) {
	if m.InstanceID == "" {
		return
	}
	for _, name := range s.groupNames() {
		st := &s.Groups[name].Status
		if st.State != StateFencing || st.FenceNode != m.ID || containsString(st.InstancesToFence(), m.InstanceID) {
			continue
		}
		st.FenceInstances = append(st.InstancesToFence(), m.InstanceID)
		s.event(index, h, Event{Kind: KindFenceInstanceAdded, Group: name, Node: m.ID, Epoch: st.Epoch, Reason: fmt.Sprintf("%s now reports instance %s; the winner must fence all of %v", m.ID, m.InstanceID, st.FenceInstances)})
	}
}

func (s *State) removeMember(index uint64, c *RemoveMember) Result {
	if _, ok := s.Members[c.ID]; !ok {
		return Result{Err: fmt.Errorf("%w: %s", ErrNoMember, c.ID)}
	}
	for _, name := range s.groupNames() {
		g := s.Groups[name]
		if g.Status.Owner == c.ID && g.Status.Active() {
			return Result{Err: fmt.Errorf("%w: member %s owns group %s (%s); move it first with `raftha ownership transfer %s --to NODE`", ErrBusy, c.ID, name, g.Status.State, name)}
		}
		if g.Status.Owner == c.ID && g.Status.StopFailed {
			return Result{Err: fmt.Errorf("%w: group %s could not be stopped on member %s and may still run there; let a fenced takeover move it (or `raftha group fence-override %s`) before removing %s", ErrBusy, name, c.ID, name, c.ID)}
		}
		if g.Status.State == StateFencing && g.Status.FenceNode == c.ID {
			return Result{Err: fmt.Errorf("%w: %s must fence member %s before group %s starts, and needs its instance id; wait for the fence (or `raftha group fence-override %s`) before removing %s", ErrBusy, g.Status.Owner, c.ID, name, name, c.ID)}
		}
	}
	delete(s.Members, c.ID)
	s.event(index, c.Header, Event{Kind: KindMemberRemoved, Node: c.ID})
	return Result{}
}

// ValidateGroups checks specs against the members in s, all at once, and
// returns every problem found, each a *FieldError. ApplyGroups applies
// nothing if it fails.
func (s *State) ValidateGroups(specs []GroupSpec) []error {
	var errs []error
	seen := map[string]bool{}
	for i, g := range specs {
		where := fmt.Sprintf("groups[%d]", i)
		if !nameRE.MatchString(g.Name) {
			errs = append(errs, fieldErr(where+".name", "%q is not a valid name (letters, digits, . _ -; up to 63)", g.Name))
		} else if seen[g.Name] {
			errs = append(errs, fieldErr(where+".name", "group %q is defined twice", g.Name))
		}
		seen[g.Name] = true
		if len(g.Nodes) == 0 {
			errs = append(errs, fieldErr(where+".nodes", "at least one node is required"))
		}
		dup := map[string]bool{}
		for j, n := range g.Nodes {
			m, ok := s.Members[n]
			switch {
			case dup[n]:
				errs = append(errs, fieldErr(fmt.Sprintf("%s.nodes[%d]", where, j), "%s is listed twice", n))
			case !ok:
				errs = append(errs, fieldErr(fmt.Sprintf("%s.nodes[%d]", where, j), "%s is not a member of the cluster", n))
			case m.Role != RoleNode:
				errs = append(errs, fieldErr(fmt.Sprintf("%s.nodes[%d]", where, j), "%s is a %s; only nodes may own groups", n, m.Role))
			}
			dup[n] = true
		}
		rdup := map[string]bool{}
		for j, r := range g.Resources {
			if !nameRE.MatchString(r.Name) {
				errs = append(errs, fieldErr(fmt.Sprintf("%s.resources[%d].name", where, j), "%q is not a valid name", r.Name))
			} else if rdup[r.Name] {
				errs = append(errs, fieldErr(fmt.Sprintf("%s.resources[%d].name", where, j), "%q is used twice in group %s", r.Name, g.Name))
			}
			rdup[r.Name] = true
			if r.Type == "" {
				errs = append(errs, fieldErr(fmt.Sprintf("%s.resources[%d].type", where, j), "required"))
			}
		}
	}
	return errs
}

func (s *State) applyGroups(index uint64, c *ApplyGroups) Result {
	if errs := s.ValidateGroups(c.Groups); len(errs) > 0 {
		return Result{Err: fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))}
	}
	for _, spec := range c.Groups {
		spec := spec
		g, ok := s.Groups[spec.Name]
		if !ok {
			g = &Group{Status: GroupStatus{State: StateOffline, Since: c.At}}
			s.Groups[spec.Name] = g
			g.Spec = spec
			s.event(index, c.Header, Event{Kind: KindGroupCreated, Group: spec.Name})
			continue
		}
		g.Spec = spec
		s.event(index, c.Header, Event{Kind: KindGroupUpdated, Group: spec.Name, Epoch: g.Status.Epoch})
	}
	return Result{}
}

func (s *State) deleteGroup(index uint64, c *DeleteGroup) Result {
	g, ok := s.Groups[c.Name]
	if !ok {
		return Result{Err: fmt.Errorf("%w: %s", ErrNoGroup, c.Name)}
	}
	if g.Status.Active() {
		return Result{Err: fmt.Errorf("%w: group %s is %s on %s; stop it first", ErrBusy, c.Name, g.Status.State, g.Status.Owner)}
	}
	delete(s.Groups, c.Name)
	s.event(index, c.Header, Event{Kind: KindGroupDeleted, Group: c.Name})
	return Result{}
}

// Eligible reports why node may not own g, or nil if it may.
func (s *State) Eligible(g *Group, node string) error {
	m, ok := s.Members[node]
	if !ok {
		return fmt.Errorf("%w: %s is not a member of the cluster", ErrNotEligible, node)
	}
	if m.Role != RoleNode {
		return fmt.Errorf("%w: %s is a %s; a witness never owns a group", ErrNotEligible, node, m.Role)
	}
	if !g.HasNode(node) {
		return fmt.Errorf("%w: %s is not in group %s's nodes %v", ErrNotEligible, node, g.Spec.Name, g.Spec.Nodes)
	}
	return nil
}

func (s *State) group(name string, expect uint64) (*Group, error) {
	g, ok := s.Groups[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoGroup, name)
	}
	if g.Status.Epoch != expect {
		return nil, fmt.Errorf("%w: group %s is at epoch %d, not %d", ErrStaleEpoch, name, g.Status.Epoch, expect)
	}
	return g, nil
}

func (s *State) assign(index uint64, c *Assign) Result {
	if !c.Cause.Moves() {
		return Result{Err: fmt.Errorf("%w: assign of group %s: unknown cause %q", ErrInvalid, c.Group, c.Cause)}
	}
	return s.assignAny(index, c)
}

// assignAny is assign for any cause: RetryFailed records its own.
func (s *State) assignAny(index uint64, c *Assign) Result {
	g, err := s.group(c.Group, c.ExpectEpoch)
	if err != nil {
		return Result{Err: err}
	}
	if err := s.Eligible(g, c.To); err != nil {
		return Result{Err: err}
	}
	st := &g.Status
	if c.TargetIdle {
		return s.takeBack(index, g, c)
	}
	if !c.Fence && st.Active() {
		return Result{Err: fmt.Errorf("%w: group %s is %s on %s; only a fenced takeover may move it", ErrBusy, c.Group, st.State, st.Owner)}
	}
	if !c.Fence && st.StopFailed {
		return Result{Err: fmt.Errorf("%w: group %s could not be stopped on %s; only a fenced takeover may move it", ErrBusy, c.Group, st.Owner)}
	}
	if c.Cause == CausePlanned {
		st.FailedOn = nil
	}
	from := st.Owner
	kind := KindAssigned
	if c.Fence {
		kind = KindTakeover
		// A winner still fencing never started anything: the node to
		// fence stays the one it was fencing. Otherwise the current owner
		// may have acted and is the one to fence.
		fenceNode, fenceInstance, fenceInstances := st.FenceNode, st.FenceInstance, st.InstancesToFence()
		if st.State != StateFencing || fenceNode == "" {
			fenceNode, fenceInstance, fenceInstances = from, "", nil
			if m, ok := s.Members[from]; ok && m.InstanceID != "" {
				fenceInstance, fenceInstances = m.InstanceID, []string{m.InstanceID}
			}
		}
		if fenceNode == c.To {
			return Result{Err: fmt.Errorf("%w: %s cannot fence itself", ErrNotEligible, c.To)}
		}
		stopFailed := st.StopFailed || (st.State == StateFencing && st.FenceStopFailed)
		st.State, st.FenceNode, st.FenceInstance, st.FenceInstances, st.FenceWait, st.FenceSilence = StateFencing, fenceNode, fenceInstance, fenceInstances, c.FenceWait, c.FenceSilence
		st.FenceStopFailed = stopFailed
	} else {
		st.State, st.FenceNode, st.FenceInstance, st.FenceInstances, st.FenceWait, st.FenceSilence = StateStarting, "", "", nil, 0, 0
		st.FenceStopFailed = false
	}
	st.Owner, st.Epoch, st.Target, st.Reason, st.Since, st.StopFailed = c.To, index, "", c.Reason, c.At, false
	ev := Event{Kind: kind, Group: c.Group, From: from, To: c.To, Epoch: index, Cause: c.Cause, Reason: c.Reason}
	if c.Fence && c.FenceSilence > 0 {
		ev.Timing = &Timing{Silence: c.FenceSilence}
	}
	s.event(index, c.Header, ev)
	return Result{Epoch: index}
}

func (s *State) report(index uint64, c *Report) Result {
	g, err := s.group(c.Group, c.Epoch)
	if err != nil {
		return Result{Err: err}
	}
	st := &g.Status
	if st.Owner != c.Node {
		return Result{Err: fmt.Errorf("%w: %s does not own group %s (owner %s)", ErrNotOwner, c.Node, c.Group, st.Owner)}
	}
	ev := Event{Group: c.Group, Node: c.Node, Epoch: st.Epoch, Reason: c.Reason}
	switch c.State {
	case StateOnline:
		if st.State != StateStarting && st.State != StateOnline {
			return Result{Err: fmt.Errorf("%w: group %s is %s; it cannot go online", ErrBusy, c.Group, st.State)}
		}
		if st.State == StateOnline {
			return Result{Epoch: st.Epoch}
		}
		ev.Kind, ev.Timing = KindOnline, c.Timing
		st.State, st.Reason = StateOnline, c.Reason
	case StateFailed:
		if st.State == StateFencing {
			return Result{Err: fmt.Errorf("%w: group %s is fencing", ErrBusy, c.Group)}
		}
		ev.Kind = KindFailed
		st.State, st.Reason, st.Target, st.StopFailed = StateFailed, c.Reason, "", c.StopFailed
		if !containsString(st.FailedOn, c.Node) {
			st.FailedOn = append(st.FailedOn, c.Node)
		}
	case StateOffline:
		target := st.Target
		if st.State == StateStopping && target != "" && s.Eligible(g, target) == nil {
			ev.Kind = KindStopped
			s.event(index, c.Header, ev)
			st.Owner, st.Epoch, st.State, st.Target, st.Reason = target, index, StateStarting, "", "planned move from "+c.Node
			st.Since = c.At
			s.event(index, c.Header, Event{Kind: KindAssigned, Group: c.Group, From: c.Node, To: target, Epoch: index, Cause: CausePlanned})
			return Result{Epoch: index}
		}
		ev.Kind = KindStopped
		st.State, st.Target, st.Reason = StateOffline, "", c.Reason
	default:
		return Result{Err: fmt.Errorf("%w: report of state %q", ErrInvalid, c.State)}
	}
	st.Since = c.At
	s.event(index, c.Header, ev)
	return Result{Epoch: st.Epoch}
}

func (s *State) beginTransfer(index uint64, c *BeginTransfer) Result {
	if c.Cause != "" && !c.Cause.Moves() {
		return Result{Err: fmt.Errorf("%w: transfer of group %s: unknown cause %q", ErrInvalid, c.Group, c.Cause)}
	}
	g, err := s.group(c.Group, c.ExpectEpoch)
	if err != nil {
		return Result{Err: err}
	}
	st := &g.Status
	if c.To == "" { // a stop: no destination
		switch st.State {
		case StateOnline, StateStarting:
			st.State, st.Target, st.Since, st.Reason = StateStopping, "", c.At, "stop requested"
			s.event(index, c.Header, Event{Kind: KindStopping, Group: c.Group, From: st.Owner, Epoch: st.Epoch, Cause: CauseStop})
			return Result{Epoch: st.Epoch}
		case StateOffline, StateFailed:
			return Result{Epoch: st.Epoch}
		}
		return Result{Err: fmt.Errorf("%w: group %s is %s on %s; wait for it to settle", ErrBusy, c.Group, st.State, st.Owner)}
	}
	if err := s.Eligible(g, c.To); err != nil {
		return Result{Err: err}
	}
	cause := c.Cause
	if cause == "" {
		cause = CausePlanned
	}
	switch st.State {
	case StateOnline, StateStarting:
		if st.Owner == c.To {
			return Result{Err: fmt.Errorf("%w: group %s is already on %s", ErrInvalid, c.Group, c.To)}
		}
		if cause == CausePlanned {
			st.FailedOn = nil // an operator moved it: forget where it failed
		}
		st.State, st.Target, st.Since, st.Reason = StateStopping, c.To, c.At, string(cause)+" move to "+c.To
		s.event(index, c.Header, Event{Kind: KindStopping, Group: c.Group, From: st.Owner, To: c.To, Epoch: st.Epoch, Cause: cause})
		return Result{Epoch: st.Epoch}
	case StateOffline, StateFailed, "":
		if st.StopFailed {
			return Result{Err: fmt.Errorf("%w: group %s could not be stopped on %s and may still run there; it moves only by a fenced takeover", ErrBusy, c.Group, st.Owner)}
		}
		return s.assign(index, &Assign{Header: c.Header, Group: c.Group, To: c.To, ExpectEpoch: c.ExpectEpoch, Cause: cause})
	}
	return Result{Err: fmt.Errorf("%w: group %s is %s on %s; wait for it to settle", ErrBusy, c.Group, st.State, st.Owner)}
}

func (s *State) fenced(index uint64, c *Fenced) Result {
	g, err := s.group(c.Group, c.Epoch)
	if err != nil {
		return Result{Err: err}
	}
	st := &g.Status
	if st.Owner != c.Node {
		return Result{Err: fmt.Errorf("%w: %s does not own group %s", ErrNotOwner, c.Node, c.Group)}
	}
	if st.State != StateFencing {
		return Result{Err: fmt.Errorf("%w: group %s is %s, not fencing", ErrBusy, c.Group, st.State)}
	}
	if len(c.Instances) > 0 {
		for _, id := range st.InstancesToFence() {
			if !containsString(c.Instances, id) {
				return Result{Err: fmt.Errorf("%w: group %s: instance %s of %s was not fenced (fenced %v); fence it too", ErrBusy, c.Group, id, st.FenceNode, c.Instances)}
			}
		}
	}
	reason := c.Took
	if c.Verified != "" {
		reason = strings.TrimPrefix(reason+"; "+c.Verified, "; ")
	}
	s.event(index, c.Header, Event{Kind: KindFenced, Group: c.Group, Node: c.Node, From: st.FenceNode, Epoch: st.Epoch, Cause: Cause(c.Method), Reason: reason, Timing: c.Timing})
	st.State, st.FenceNode, st.FenceInstance, st.FenceInstances, st.FenceWait, st.FenceSilence, st.Since, st.Reason = StateStarting, "", "", nil, 0, 0, c.At, "fenced "+string(c.Method)
	st.FenceStopFailed = false
	return Result{Epoch: st.Epoch}
}

func (s *State) note(index uint64, c *Note) Result {
	if c.Kind == "" {
		return Result{Err: fmt.Errorf("%w: note without kind", ErrInvalid)}
	}
	if g, ok := s.Groups[c.Group]; ok && c.Epoch != 0 && g.Status.Epoch == c.Epoch {
		g.Status.Reason = c.Reason
	}
	s.event(index, c.Header, Event{Kind: c.Kind, Group: c.Group, Node: c.Node, Epoch: c.Epoch, Reason: c.Reason})
	return Result{}
}

func (s *State) setSuspended(index uint64, c *SetSuspended) Result {
	g, ok := s.Groups[c.Group]
	if !ok {
		return Result{Err: fmt.Errorf("%w: %s", ErrNoGroup, c.Group)}
	}
	kind := KindResumed
	if c.Suspended {
		kind = KindSuspended
	} else {
		g.Status.FailedOn = nil
	}
	g.Status.Suspended = c.Suspended
	s.event(index, c.Header, Event{Kind: kind, Group: c.Group, Epoch: g.Status.Epoch})
	return Result{Epoch: g.Status.Epoch}
}

func (s *State) setClusterSettings(index uint64, c *SetClusterSettings) Result {
	cs := c.Settings
	if cs.FencingMode == "" || cs.Heartbeat <= 0 || cs.Lease <= 0 || cs.StopDeadline <= 0 {
		return Result{Err: fmt.Errorf("%w: cluster settings need a fencing mode and positive heartbeat, lease and stop_deadline, got %s", ErrInvalid, cs)}
	}
	if c.Seed && s.Settings != nil {
		return Result{Err: fmt.Errorf("%w: cluster settings are already recorded (%s); change them explicitly", ErrBusy, *s.Settings)}
	}
	kind, reason := KindSettingsSeeded, cs.String()
	if s.Settings != nil {
		kind, reason = KindSettingsChanged, fmt.Sprintf("%s (was %s)", cs, *s.Settings)
	}
	s.Settings = &cs
	s.event(index, c.Header, Event{Kind: kind, Reason: reason})
	return Result{}
}

// describeMember lists a member's addresses, leaving out empty ones.
func describeMember(m *Member) string {
	var parts []string
	for _, f := range []struct{ k, v string }{{"address", m.Address}, {"api", m.API}, {"instance", m.InstanceID}} {
		if f.v != "" {
			parts = append(parts, f.k+" "+f.v)
		}
	}
	return strings.Join(parts, ", ")
}

func containsString(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *State) groupNames() []string {
	names := make([]string, 0, len(s.Groups))
	for n := range s.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// GroupNames returns the group names in sorted order.
func (s *State) GroupNames() []string { return s.groupNames() }

// MemberIDs returns the member ids in sorted order.
func (s *State) MemberIDs() []string {
	ids := make([]string, 0, len(s.Members))
	for id := range s.Members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
