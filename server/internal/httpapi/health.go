package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// The health listener (health.listen): plain HTTP for load balancers,
// no credential, read-only. Every answer comes from this member's own
// state (its applied log, its lease, what raft last told it about the
// leader): nothing waits for raft or for another member, and
// healthAnswerTimeout bounds each answer anyway.

// HealthLimits are the health listener's limits: its own, smaller than
// the API's (a load balancer's checks are few and short).
var HealthLimits = Limits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       5 * time.Second,
	WriteTimeout:      5 * time.Second,
	IdleTimeout:       30 * time.Second,
	MaxConns:          64,
	MaxConnsPerIP:     32,
}

// healthAnswerTimeout bounds the computing of one health answer; past it
// the answer is 503.
const healthAnswerTimeout = 2 * time.Second

// Health answer statuses (HealthAnswer.Status).
const (
	healthOK          = "ok"
	healthUnavailable = "unavailable"
)

// HealthAnswer is the JSON body of every health endpoint. It holds no
// secret: names, an epoch and this member's view of them.
type HealthAnswer struct {
	// Status is ok (HTTP 200) or unavailable (503); not-found for 404.
	Status string `json:"status"`
	// Node is the member answering.
	Node string `json:"node"`
	// Leader is the leader this member knows ("" when none).
	Leader string `json:"leader,omitempty"`
	// LeaseLeftMS is how long this member's lease has left.
	LeaseLeftMS int64 `json:"lease_left_ms"`
	// Group, Owner, Epoch and State describe the group asked about, as
	// this member's log has them.
	Group     string         `json:"group,omitempty"`
	Owner     string         `json:"owner,omitempty"`
	Epoch     uint64         `json:"epoch,omitempty"`
	State     fsm.GroupState `json:"state,omitempty"`
	Suspended bool           `json:"suspended,omitempty"`
	// Reason says why the answer is what it is.
	Reason string `json:"reason"`
}

// ServeHealth serves the health listener on listen, within lim (already
// defaulted), and returns its bound address.
func (a *API) ServeHealth(listen string, lim Limits) (string, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return "", fmt.Errorf("health: listen on %s: %w", listen, err)
	}
	hl := newLimitListener(ln, lim, nil, a.d.Logger.Named("health"))
	addr := hl.Addr().String()
	a.health = &http.Server{
		Handler:           withDeadlines(lim, http.TimeoutHandler(a.healthHandler(), healthAnswerTimeout, `{"status":"unavailable","reason":"the answer took too long"}`)),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		ErrorLog:          a.d.Logger.Named("health").StandardLogger(nil),
	}
	srv := a.health
	a.d.Go(func() {
		if err := srv.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.d.Logger.Error("health listener stopped", "error", err)
		}
	})
	a.d.Logger.Info("health listener (plain HTTP, no credential, read-only)", "address", addr)
	return addr, nil
}

// ShutdownHealth closes the health listener and its connections.
func (a *API) ShutdownHealth() {
	if a == nil || a.health == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := a.health.Shutdown(ctx); err != nil {
		_ = a.health.Close()
	}
}

// healthHandler routes GET and HEAD of /health/live, /health/ready and
// /health/group/NAME; any other method is 405, any other path 404.
func (a *API) healthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var code int
		var h HealthAnswer
		switch p := r.URL.Path; {
		case p == "/health/live":
			code, h = a.healthLive()
		case p == "/health/ready":
			code, h = a.healthReady()
		case strings.HasPrefix(p, "/health/group/") && !strings.Contains(p[len("/health/group/"):], "/"):
			code, h = a.healthGroup(p[len("/health/group/"):])
		default:
			writeJSON(w, http.StatusNotFound, &api.Error{Message: "no such endpoint: " + r.URL.Path + " (see /health/live, /health/ready, /health/group/NAME)", Code: api.CodeNotFound})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, &api.Error{Message: fmt.Sprintf("%s takes GET or HEAD, not %s", r.URL.Path, r.Method), Code: api.CodeMethodNotAllowed})
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, code, &h)
	})
}

// healthBase fills what every answer has: this member, its leader and
// its lease.
func (a *API) healthBase() HealthAnswer {
	h := HealthAnswer{Status: healthUnavailable, Node: a.d.NodeID}
	if started, stopped := a.d.Backend.Running(); started && !stopped {
		h.Leader = a.d.Backend.LeaderID()
		h.LeaseLeftMS = max(a.d.Backend.LeaseLeft().Milliseconds(), 0)
	}
	return h
}

// healthLive is 200 while the agent runs: started and not stopping.
func (a *API) healthLive() (int, HealthAnswer) {
	h := a.healthBase()
	started, stopped := a.d.Backend.Running()
	switch {
	case !started:
		h.Reason = "the agent is starting"
	case stopped:
		h.Reason = "the agent is stopping"
	default:
		h.Status, h.Reason = healthOK, "the agent runs"
		return http.StatusOK, h
	}
	return http.StatusServiceUnavailable, h
}

// healthReady is 200 when this member is started, knows a leader, and
// that leader confirmed its heartbeat within the last timing.lease (its
// lease is valid, whether it owns a group or not).
func (a *API) healthReady() (int, HealthAnswer) {
	if code, h := a.healthLive(); code != http.StatusOK {
		return code, h
	}
	h := a.healthBase()
	switch {
	case h.Leader == "":
		h.Reason = "no leader known (no quorum, or an election)"
	case h.LeaseLeftMS <= 0:
		h.Reason = fmt.Sprintf("the leader (%s) has not confirmed this member within timing.lease (%s)", h.Leader, a.d.Lease)
	default:
		h.Status, h.Reason = healthOK, "a leader is known and confirmed this member's lease"
		return http.StatusOK, h
	}
	return http.StatusServiceUnavailable, h
}

// healthGroup is 200 only on the owner of group at its current epoch
// (as this member's log has it), with the group online and this member's
// lease for it at that epoch valid (LeaseValid); 404 when the group is
// unknown; 503 otherwise.
func (a *API) healthGroup(name string) (int, HealthAnswer) {
	h := a.healthBase()
	h.Group = name
	if code, live := a.healthLive(); code != http.StatusOK {
		live.Group = name
		return code, live
	}
	var g fsm.GroupStatus
	found := false
	a.d.FSM.Read(func(st *fsm.State) {
		if gg, ok := st.Groups[name]; ok {
			g, found = gg.Status, true
		}
	})
	if !found {
		h.Status, h.Reason = "not-found", "no group "+name
		return http.StatusNotFound, h
	}
	h.Owner, h.Epoch, h.State, h.Suspended = g.Owner, g.Epoch, g.State, g.Suspended
	switch {
	case g.Owner != a.d.NodeID:
		h.Reason = "not the owner"
		if g.Owner == "" {
			h.Reason = "the group has no owner"
		}
	case g.State != fsm.StateOnline:
		h.Reason = fmt.Sprintf("owner here, but the group is %s", g.State)
	case !a.d.Backend.LeaseValid(name, g.Epoch):
		h.Reason = fmt.Sprintf("owner here, but this member's lease for epoch %d is not valid (the leader has not confirmed it within timing.lease)", g.Epoch)
	default:
		h.Status, h.Reason = healthOK, "owner here, online, lease valid"
		return http.StatusOK, h
	}
	return http.StatusServiceUnavailable, h
}
