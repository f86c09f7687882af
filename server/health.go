package server

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

// Health listener limits: its own, smaller than the API's (a load
// balancer's checks are few and short).
var healthLimits = APILimits{
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

// Health answer statuses (healthAnswer.Status).
const (
	healthOK          = "ok"
	healthUnavailable = "unavailable"
)

// healthAnswer is the JSON body of every health endpoint. It holds no
// secret: names, an epoch and this member's view of them.
type healthAnswer struct {
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

// HealthAddr is the bound address of the health listener; "" when
// health.listen is not set, before Start and after the server stopped.
func (s *Server) HealthAddr() string {
	if a := s.healthAddr.Load(); a != nil {
		return *a
	}
	return ""
}

// startHealth starts the health listener when health.listen is set.
func (s *Server) startHealth() error {
	if s.cfg.Health.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Health.Listen)
	if err != nil {
		return fmt.Errorf("health: listen on %s: %w", s.cfg.Health.Listen, err)
	}
	lim := healthLimits.withDefaults()
	hl := newLimitListener(ln, lim, nil, s.logger.Named("health"))
	addr := hl.Addr().String()
	s.healthAddr.Store(&addr)
	s.healthSrv = &http.Server{
		Handler:           withDeadlines(lim, http.TimeoutHandler(s.healthHandler(), healthAnswerTimeout, `{"status":"unavailable","reason":"the answer took too long"}`)),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		ErrorLog:          s.logger.Named("health").StandardLogger(nil),
	}
	srv := s.healthSrv
	s.goFn(func() {
		if err := srv.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("health listener stopped", "error", err)
		}
	})
	s.logger.Info("health listener (plain HTTP, no credential, read-only)", "address", addr)
	return nil
}

// stopHealth closes the health listener and its connections.
func (s *Server) stopHealth() {
	if s.healthSrv == nil {
		return
	}
	s.healthAddr.Store(nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.healthSrv.Shutdown(ctx); err != nil {
		_ = s.healthSrv.Close()
	}
}

// healthHandler routes GET and HEAD of /health/live, /health/ready and
// /health/group/NAME; any other method is 405, any other path 404.
func (s *Server) healthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var code int
		var a healthAnswer
		switch p := r.URL.Path; {
		case p == "/health/live":
			code, a = s.healthLive()
		case p == "/health/ready":
			code, a = s.healthReady()
		case strings.HasPrefix(p, "/health/group/") && !strings.Contains(p[len("/health/group/"):], "/"):
			code, a = s.healthGroup(p[len("/health/group/"):])
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
		writeJSON(w, code, &a)
	})
}

// healthBase fills what every answer has: this member, its leader and
// its lease.
func (s *Server) healthBase() healthAnswer {
	a := healthAnswer{Status: healthUnavailable, Node: s.cfg.NodeID}
	if s.started.Load() && !s.stopped.Load() {
		_, id := s.raft.LeaderWithID()
		a.Leader = string(id)
		a.LeaseLeftMS = max(s.lease.remaining().Milliseconds(), 0)
	}
	return a
}

// healthLive is 200 while the agent runs: started and not stopping.
func (s *Server) healthLive() (int, healthAnswer) {
	a := s.healthBase()
	switch {
	case !s.started.Load():
		a.Reason = "the agent is starting"
	case s.stopped.Load():
		a.Reason = "the agent is stopping"
	default:
		a.Status, a.Reason = healthOK, "the agent runs"
		return http.StatusOK, a
	}
	return http.StatusServiceUnavailable, a
}

// healthReady is 200 when this member is started, knows a leader, and
// that leader confirmed its heartbeat within the last timing.lease (its
// lease is valid, whether it owns a group or not).
func (s *Server) healthReady() (int, healthAnswer) {
	if code, a := s.healthLive(); code != http.StatusOK {
		return code, a
	}
	a := s.healthBase()
	switch {
	case a.Leader == "":
		a.Reason = "no leader known (no quorum, or an election)"
	case a.LeaseLeftMS <= 0:
		a.Reason = fmt.Sprintf("the leader (%s) has not confirmed this member within timing.lease (%s)", a.Leader, s.cfg.Timing.Lease)
	default:
		a.Status, a.Reason = healthOK, "a leader is known and confirmed this member's lease"
		return http.StatusOK, a
	}
	return http.StatusServiceUnavailable, a
}

// healthGroup is 200 only on the owner of group at its current epoch
// (as this member's log has it), with the group online and this member's
// lease for it at that epoch valid (LeaseValid); 404 when the group is
// unknown; 503 otherwise.
func (s *Server) healthGroup(name string) (int, healthAnswer) {
	a := s.healthBase()
	a.Group = name
	if code, live := s.healthLive(); code != http.StatusOK {
		live.Group = name
		return code, live
	}
	var g fsm.GroupStatus
	found := false
	s.fsm.Read(func(st *fsm.State) {
		if gg, ok := st.Groups[name]; ok {
			g, found = gg.Status, true
		}
	})
	if !found {
		a.Status, a.Reason = "not-found", "no group "+name
		return http.StatusNotFound, a
	}
	a.Owner, a.Epoch, a.State, a.Suspended = g.Owner, g.Epoch, g.State, g.Suspended
	switch {
	case g.Owner != s.cfg.NodeID:
		a.Reason = "not the owner"
		if g.Owner == "" {
			a.Reason = "the group has no owner"
		}
	case g.State != fsm.StateOnline:
		a.Reason = fmt.Sprintf("owner here, but the group is %s", g.State)
	case !s.LeaseValid(name, g.Epoch):
		a.Reason = fmt.Sprintf("owner here, but this member's lease for epoch %d is not valid (the leader has not confirmed it within timing.lease)", g.Epoch)
	default:
		a.Status, a.Reason = healthOK, "owner here, online, lease valid"
		return http.StatusOK, a
	}
	return http.StatusServiceUnavailable, a
}
