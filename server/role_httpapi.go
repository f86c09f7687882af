package server

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/httpapi"
	"github.com/raftha/raftha/transport"
)

// The HTTP API role lives in server/internal/httpapi; this file is its
// adapter: the limits embedders set, starting and stopping the API and
// the health listener, and apiBackend, the httpapi.Backend of a Server.

// APILimits bounds the HTTPS API's connections and how long each may
// take, so that no caller (authenticated or not) can hold the API, or the
// agent's descriptors, with idle or slow connections. A zero field takes
// its default (DefaultAPILimits).
type APILimits = httpapi.Limits

// DefaultAPILimits are the limits of a zero APILimits field. MaxConns is
// further capped at half the process's descriptor limit (RLIMIT_NOFILE),
// so that the API refuses connections politely before the agent runs out
// of descriptors.
var DefaultAPILimits = APILimits{
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      30 * time.Second,
	IdleTimeout:       60 * time.Second,
	MaxConns:          512,
	MaxConnsPerIP:     64,
}

// HealthAddr is the bound address of the health listener; "" when
// health.listen is not set, before Start and after the server stopped.
func (s *Server) HealthAddr() string {
	if a := s.healthAddr.Load(); a != nil {
		return *a
	}
	return ""
}

// startAPI builds the API role and serves the HTTPS API, unless
// Options.DisableAPI.
func (s *Server) startAPI() error {
	s.httpAPI = httpapi.New(httpapi.Deps{Backend: apiBackend{s}, FSM: s.fsm, NodeID: s.cfg.NodeID, Access: s.cfg.Access,
		Lease: s.cfg.Timing.Lease, Gatherer: s.metrics.gatherer, Logger: s.logger, Ctx: s.ctx, Go: s.goFn})
	if s.apiOff {
		return nil // Options.DisableAPI
	}
	ln := s.apiListener // Options.APIListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.API); err != nil {
			return fmt.Errorf("api: listen on %s: %w", s.cfg.API, err)
		}
	}
	apiAddr := s.httpAPI.Serve(ln, s.bundle.APIServerConfig(), s.apiLimits.WithDefaults(DefaultAPILimits))
	s.apiAddr.Store(&apiAddr)
	return nil
}

// stopAPI stops the API (or closes Options.APIListener, never served).
func (s *Server) stopAPI() {
	if s.httpAPI.Serving() {
		s.httpAPI.Shutdown()
		return
	}
	if s.apiListener != nil {
		_ = s.apiListener.Close()
	}
}

// startHealth starts the health listener when health.listen is set.
func (s *Server) startHealth() error {
	if s.cfg.Health.Listen == "" {
		return nil
	}
	addr, err := s.httpAPI.ServeHealth(s.cfg.Health.Listen, httpapi.HealthLimits.WithDefaults(DefaultAPILimits))
	if err != nil {
		return err
	}
	s.healthAddr.Store(&addr)
	return nil
}

// stopHealth closes the health listener and its connections.
func (s *Server) stopHealth() {
	if s.healthAddr.Load() == nil {
		return
	}
	s.healthAddr.Store(nil)
	s.httpAPI.ShutdownHealth()
}

// advertisedAPI is the API address other members and clients reach:
// the bound one, with this member's Raft host when bound to every
// address.
func (s *Server) advertisedAPI() string {
	addr := s.APIAddr()
	if addr == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if ah, _, err := net.SplitHostPort(s.RaftAddr()); err == nil {
			return net.JoinHostPort(ah, port)
		}
	}
	return addr
}

// roleOf is the role this member's access settings give a caller
// (httpapi.RoleOf); the leader applies it to forwarded operator calls.
func (s *Server) roleOf(identity string, kind transport.CertKind) api.Role {
	return httpapi.RoleOf(s.cfg.Access, identity, kind)
}

// apiBackend is the httpapi.Backend of a Server.
type apiBackend struct{ s *Server }

var _ httpapi.Backend = apiBackend{}

func (b apiBackend) Health() api.Health { return b.s.Health() }

func (b apiBackend) Status(ctx context.Context) (*api.Status, error) { return b.s.Status(ctx) }

func (b apiBackend) LocalStatus(ctx context.Context) (*api.Status, error) {
	return b.s.LocalStatus(ctx)
}

func (b apiBackend) GroupDetail(ctx context.Context, name string) (*api.GroupDetail, error) {
	return b.s.GroupDetail(ctx, name)
}

func (b apiBackend) CatchUp(ctx context.Context) string { return b.s.catchUp(ctx) }

func (b apiBackend) ApplyGroups(ctx context.Context, data []byte, by string) ([]string, error) {
	return b.s.ApplyGroups(ctx, data, by)
}

func (b apiBackend) DeleteGroup(ctx context.Context, name, by string) error {
	_, err := b.s.operatorCommit(ctx, &fsm.DeleteGroup{Header: b.s.header(by), Name: name})
	return err
}

func (b apiBackend) Transfer(ctx context.Context, group, to, by string) (api.GroupStatus, error) {
	return b.s.Transfer(ctx, group, to, by)
}

func (b apiBackend) SetSuspended(ctx context.Context, group string, suspended bool, by string) error {
	return b.s.SetSuspended(ctx, group, suspended, by)
}

func (b apiBackend) StopGroup(ctx context.Context, group, by string) (api.GroupStatus, error) {
	return b.s.StopGroup(ctx, group, by)
}

func (b apiBackend) FenceOverride(ctx context.Context, group, reason, by string) (api.GroupStatus, error) {
	return b.s.FenceOverride(ctx, group, reason, by)
}

func (b apiBackend) AddMember(ctx context.Context, req api.MemberRequest, by string) error {
	return b.s.AddMember(ctx, req, by)
}

func (b apiBackend) RemoveMember(ctx context.Context, id, by string) error {
	return b.s.RemoveMember(ctx, id, by)
}

func (b apiBackend) SetStandby(ctx context.Context, node string, standby bool, by string) (api.StandbyResult, error) {
	return b.s.SetStandby(ctx, node, standby, by)
}

func (b apiBackend) Settings() api.SettingsView {
	st := b.s.fsm.View()
	return settingsView(b.s.settingsOf(st), st.Settings != nil)
}

func (b apiBackend) SetClusterSettings(ctx context.Context, req api.SettingsRequest, by string) (api.SettingsView, error) {
	return b.s.SetClusterSettings(ctx, req, by)
}

func (b apiBackend) SaveSnapshot(ctx context.Context) ([]byte, api.SnapshotHeader, error) {
	return b.s.SaveSnapshot(ctx)
}

func (b apiBackend) RestoreSnapshot(ctx context.Context, file []byte, epochFloor uint64, by string) (api.RestoreResult, error) {
	return b.s.RestoreSnapshot(ctx, file, epochFloor, by)
}

// LeaderAPI sends a snapshot call on a follower to the leader's API.
func (b apiBackend) LeaderAPI() (string, bool, error) {
	s := b.s
	if s.checkRunning() != nil || s.raft.State() == raft.Leader {
		return "", false, nil
	}
	_, id := s.leaderAddr()
	m, ok := s.fsm.View().Members[string(id)]
	if id == "" || !ok || m.API == "" {
		return "", true, fmt.Errorf("%w: this member is not the leader and knows no leader's API", ErrNoLeader)
	}
	return m.API, true, nil
}

func (b apiBackend) ErrorCode(err error) api.Code { return errorCode(err) }

func (b apiBackend) Running() (started, stopped bool) {
	return b.s.started.Load(), b.s.stopped.Load()
}

func (b apiBackend) LeaderID() string { return b.s.LeaderID() }

func (b apiBackend) LeaseLeft() time.Duration { return b.s.lease.remaining() }

func (b apiBackend) LeaseValid(group string, epoch uint64) bool {
	return b.s.LeaseValid(group, epoch)
}
