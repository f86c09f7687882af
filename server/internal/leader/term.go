package leader

import (
	"sync"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/decide"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// Term is what only the ready leader knows during one leadership: when it
// last heard from each member (the failure detector, decide.Contacts),
// since when it leads, and what members reported with their heartbeats.
type Term struct {
	// contactMu orders lease renewals (heartbeats, confirms: contact
	// recorded and the log read; write lock) against takeover decisions
	// (silence measured and the takeover committed; read lock, so that
	// the takeovers of one pass commit together). See takeover.
	contactMu  sync.RWMutex
	l          *Leader
	c          *decide.Contacts // when each member was last heard from; its clock
	readyIndex uint64           // every entry up to here was applied at readiness
	raftTerm   uint64           // raft's term of this leadership (a member leads a term once)

	mu    sync.Mutex
	noted map[string]bool

	lastHandover time.Time                        // witness only
	pending      map[string]rpcwire.HeartbeatArgs // member updates to register
	refused      Refusals                         // members refused for their settings

	fb fenceBack // running reports and checks for takeovers back

	res resStore // owners' resource summaries, for status (resstore.go)

	disk diskSeen // peers' disk heartbeats as the nodes saw them (diskseen.go)

	failedAll map[string]failedAll // groups failed everywhere (autoretry.go), under mu
}

// Contacts is this leadership's failure detector.
func (t *Term) Contacts() *decide.Contacts { return t.c }

// Healthy reports whether the leader heard from node recently.
func (t *Term) Healthy(node string) bool { return t.c.Healthy(node) }

// Refusals are the members this leadership refuses for their settings.
func (t *Term) Refusals() *Refusals { return &t.refused }

func (t *Term) register(a rpcwire.HeartbeatArgs) {
	t.mu.Lock()
	t.pending[a.Node] = a
	t.mu.Unlock()
}

// input is what a pass of the leader decides from (decide.Input).
func (t *Term) input(st *fsm.State) decide.Input {
	cs := t.l.cfg.SelfSettings
	if st.Settings != nil {
		cs = *st.Settings
	}
	return decide.Input{State: st, Contacts: t.c, Settings: cs}
}

// AttachMember fills the leader's view of a member row: health, last
// contact, state (leader is the leader's id) and its disk heartbeat.
func (t *Term) AttachMember(ms *api.MemberStatus, leader string) {
	c := t.c
	ms.Healthy = c.Healthy(ms.ID)
	ms.LastContactMS = c.LastContact(ms.ID).Milliseconds()
	switch {
	case ms.ID == leader:
		ms.State = "leader"
	case c.Leaving(ms.ID):
		ms.State = "leaving"
	case ms.Healthy:
		ms.State = "follower"
	case !c.Heard(ms.ID) && !c.Lost(ms.ID):
		ms.State = "pending" // a new leader has not heard from it yet
	default:
		ms.State = "down"
	}
	t.disk.attach(ms, t.l.cfg.Clock.Now())
}

// ResourceStatus is what owner last reported for group at epoch, when
// that report is younger than maxAge.
func (t *Term) ResourceStatus(group, owner string, epoch uint64, maxAge time.Duration) []api.ResourceStatus {
	return t.res.get(group, owner, epoch, maxAge, t.l.cfg.Clock.Now())
}

// Refusals remembers, per member, why the leader refuses it for its
// settings. The zero value is ready to use.
type Refusals struct {
	mu sync.Mutex
	m  map[string]string
}

// Set records why node is refused ("" clears it) and returns what was
// recorded before.
func (r *Refusals) Set(node, why string) (prev string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev = r.m[node]
	if why == "" {
		delete(r.m, node)
		return prev
	}
	if r.m == nil {
		r.m = map[string]string{}
	}
	r.m[node] = why
	return prev
}

// Get returns why node is refused ("" when it is not).
func (r *Refusals) Get(node string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[node]
}
