// Package httpapi owns the member's HTTPS API: routes, access control, request limits, the dashboard, pprof and the /metrics endpoint.
package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// Backend is what the API's handlers ask of the rest of the agent. by is
// always the caller's identity, recorded as the author of a change. An
// error is answered with its stable code (ErrorCode).
type Backend interface {
	// Health is this member's own view, from local state (GET /v1/health).
	Health() api.Health
	// Status is the cluster's status, from the leader or stale.
	Status(ctx context.Context) (*api.Status, error)
	// LocalStatus is this member's own view, without asking the leader.
	LocalStatus(ctx context.Context) (*api.Status, error)
	// GroupDetail is one group's status, spec and last changes.
	GroupDetail(ctx context.Context, name string) (*api.GroupDetail, error)
	// CatchUp waits, within ctx, until this member's log has what the
	// leader committed; it returns why its view may be stale ("" when not).
	CatchUp(ctx context.Context) string
	// ApplyGroups applies a group file and returns the names it applied.
	ApplyGroups(ctx context.Context, data []byte, by string) ([]string, error)
	// DeleteGroup deletes group name.
	DeleteGroup(ctx context.Context, name, by string) error
	// Transfer moves group to node to and waits for it to come online.
	Transfer(ctx context.Context, group, to, by string) (api.GroupStatus, error)
	// SetSuspended suspends or resumes group.
	SetSuspended(ctx context.Context, group string, suspended bool, by string) error
	// StopGroup suspends group and waits for it to stop.
	StopGroup(ctx context.Context, group, by string) (api.GroupStatus, error)
	// FenceOverride accepts, for reason, the risk a fence guards against.
	FenceOverride(ctx context.Context, group, reason, by string) (api.GroupStatus, error)
	// AddMember adds a member to the cluster.
	AddMember(ctx context.Context, req api.MemberRequest, by string) error
	// RemoveMember removes member id from the cluster.
	RemoveMember(ctx context.Context, id, by string) error
	// SetStandby puts node on standby or takes it off.
	SetStandby(ctx context.Context, node string, standby bool, by string) (api.StandbyResult, error)
	// Settings are the cluster's settings as this member's log has them.
	Settings() api.SettingsView
	// SetClusterSettings changes the cluster's settings.
	SetClusterSettings(ctx context.Context, req api.SettingsRequest, by string) (api.SettingsView, error)
	// SaveSnapshot takes a snapshot file on this member, the leader.
	SaveSnapshot(ctx context.Context) ([]byte, api.SnapshotHeader, error)
	// RestoreSnapshot restores a snapshot file on this member, the leader.
	RestoreSnapshot(ctx context.Context, file []byte, epochFloor uint64, by string) (api.RestoreResult, error)
	// LeaderAPI says where a leader-only call (a snapshot) must go: ok is
	// false when this member serves it itself; else the leader's API
	// address, or err when this member knows no leader's API.
	LeaderAPI() (addr string, ok bool, err error)
	// ErrorCode is err's stable code ("" when it wraps no known
	// sentinel): the server's errors are classified there, so that this
	// package needs none of its sentinels.
	ErrorCode(err error) api.Code
	// Running reports whether the agent has started and whether it is
	// stopping (the health listener's live answer).
	Running() (started, stopped bool)
	// LeaderID is the leader this member knows ("" when none).
	LeaderID() string
	// LeaseLeft is how long this member's lease has left (negative when
	// it expired); asked only while the agent runs.
	LeaseLeft() time.Duration
	// LeaseValid reports whether this member's lease covers group at epoch.
	LeaseValid(group string, epoch uint64) bool
}

// Deps are the API's dependencies: the Backend and plain values.
type Deps struct {
	Backend Backend
	// FSM is this member's applied log (events, why, health).
	FSM *fsm.FSM
	// NodeID is this member's id; Access its access settings; Lease its
	// timing.lease (named in the health answers).
	NodeID string
	Access config.AccessConfig
	Lease  config.Duration
	// Gatherer serves GET /metrics; nil when the metrics are registered
	// on an embedding service's registry (404 with a hint).
	Gatherer prometheus.Gatherer
	Logger   hclog.Logger
	// Ctx is the member's life: a CPU profile ends with it.
	Ctx context.Context
	// Go runs a goroutine the member waits for when it stops.
	Go func(func())
}

// API is one member's HTTPS API and health listener.
type API struct {
	d      Deps
	srv    *http.Server
	health *http.Server
	// tracing is held by the execution trace being taken or sent
	// (execTrace): one at a time, including its buffer.
	tracing sync.Mutex
}

// New builds the API; nothing listens until Serve or ServeHealth.
func New(d Deps) *API { return &API{d: d} }

// Serve serves the API on ln under TLS configuration tc (client
// certificates verified when given), within lim (already defaulted), and
// returns the bound address.
func (a *API) Serve(ln net.Listener, tc *tls.Config, lim Limits) string {
	// A client certificate, when given, must come from the cluster CA;
	// callers without one must present a bearer token (authorize).
	tc.ClientAuth = tls.VerifyClientCertIfGiven
	// Connection limits and accept failures are handled under TLS, on the
	// raw connections (limits.go); http.Server must see *tls.Conn.
	tln := tls.NewListener(newLimitListener(ln, lim, tc, a.d.Logger), tc)
	a.srv = &http.Server{
		Handler:           a.Handler(lim),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		ErrorLog:          a.d.Logger.Named("api").StandardLogger(nil),
	}
	srv := a.srv
	go func() {
		if err := srv.Serve(tln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.d.Logger.Error("api server stopped", "error", err)
		}
	}()
	return tln.Addr().String()
}

// Serving reports whether Serve was called.
func (a *API) Serving() bool { return a != nil && a.srv != nil }

// Shutdown stops the API within 2 s.
func (a *API) Shutdown() {
	if !a.Serving() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = a.srv.Shutdown(ctx)
	cancel()
}

// Handler is the whole API as Serve serves it: deadlines, authorization
// and the routes.
func (a *API) Handler(lim Limits) http.Handler {
	mux := http.NewServeMux()
	a.routes(mux)
	return withDeadlines(lim, a.authorize(mux))
}
