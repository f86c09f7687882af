// Package server is the raftha agent as a library: Raft wiring, the leader
// loop, the owner lease, the resource runner and the HTTP API. The
// `raftha agent` command is a thin wrapper over it, and Go services embed
// it the same way (see New, Start and Shutdown).
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/disk"
	"github.com/raftha/raftha/resources/exec"
	"github.com/raftha/raftha/resources/ip"
	"github.com/raftha/raftha/resources/systemd"
	"github.com/raftha/raftha/transport"
)

// Sentinel errors at the package boundary.
var (
	// ErrNoLeader means no leader is known: the cluster has no quorum or
	// an election is under way.
	ErrNoLeader = errors.New("no leader (the cluster has no quorum or is electing one)")
	// ErrNotLeader means a leader-only call reached a follower.
	ErrNotLeader = errors.New("not the leader")
	// ErrNoQuorum means the leader could not confirm its leadership with a
	// majority.
	ErrNoQuorum = errors.New("no quorum: the leader cannot reach a majority of members")
	// ErrNotOwner means this node does not own the group at that epoch.
	ErrNotOwner = errors.New("not the owner at this epoch")
	// ErrRefused means a request was understood and refused (see message).
	ErrRefused = errors.New("refused")
)

// Options are the parts of a Server that are Go values rather than
// configuration.
type Options struct {
	// Logger receives structured logs; default: hclog to LogOutput.
	Logger hclog.Logger
	// LogOutput is where the default logger writes (default os.Stderr).
	LogOutput io.Writer
	// Registry holds resource types; default: DefaultRegistry().
	Registry *resources.Registry
	// Fencer fences lost owners; default: EC2 force-stop when
	// fencing.mode is aws-stop. Ignored in lease-only mode.
	Fencer Fencer
	// Exit ends the process for self_fence_action exit (default os.Exit).
	Exit func(code int)
	// Handlers are the OwnerFuncs that resources of type `go` run, by the
	// name their `handler:` key gives (embedding; see OwnerFunc, Handle
	// and embed.go).
	Handlers map[string]OwnerFunc
	// Rejoin marks a member that lost its data_dir and was removed from
	// the cluster (raftha members remove): with an empty data_dir it never
	// bootstraps and waits to be added (raftha members add). `raftha agent
	// --rejoin` sets it. Without it, a member with an empty data_dir whose
	// cluster exists stops with ErrRejoinRequired (see Err).
	Rejoin bool
}

// resolveEBSVolume is the resources.Env.ResolveVolume the agent passes:
// disk's volume_id names an EBS volume, whose device it finds the way
// aws.ebs does (Nitro NVMe serials, then the requested name).
func resolveEBSVolume(volumeID string) (string, error) {
	return awsres.DevicePath(volumeID, "")
}

// DefaultRegistry returns a registry with the built-in resource types.
func DefaultRegistry() *resources.Registry {
	r := resources.NewRegistry()
	for _, t := range []resources.Type{
		exec.Type,
		HandlerType, // `go`: Go callbacks of embedding services (embed.go)
		awsres.RouteType, awsres.EIPType, awsres.DNSType, awsres.EBSType,
		disk.Type, ip.Type, systemd.Type,
	} {
		if err := r.Register(t); err != nil {
			panic(err) // two built-in types with one name: a programming error
		}
	}
	return r
}

// Server is one raftha member.
type Server struct {
	cfg      config.Config
	logger   hclog.Logger
	registry *resources.Registry

	bundle *transport.Bundle
	mux    *transport.Mux
	pool   *transport.Pool
	rpcSrv *transport.RPCServer
	trans  *raft.NetworkTransport
	store  *raftboltdb.BoltStore
	raft   *raft.Raft
	fsm    *fsm.FSM
	notify chan bool
	// No amnesia (amnesia.go): the gate of a member that started with an
	// empty data_dir, whether raft is set, and why the server stopped.
	gate      *gatedLayer
	raftReady atomic.Bool
	rejoin    bool
	failMu    sync.Mutex
	failErr   error

	apiLn  net.Listener
	apiSrv *http.Server
	apiTLS *http.Transport

	lease    *lease
	runner   *runner
	fencer   Fencer
	instance string      // this member's EC2 instance id (resolved)
	awsCfg   *aws.Config // the process's AWS configuration, nil off AWS
	exitFn   func(int)
	watchdog *watchdog
	metrics  *metrics

	handlerSet  *handlerSet // OwnerFuncs of an embedding service (embed.go)
	handlerOnce sync.Once

	leaderMu    sync.Mutex
	leaderState *leaderState // non-nil while leader and ready

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped atomic.Bool
	leaving atomic.Bool
	stopMu  sync.Mutex

	// reportFilter, when set (tests only), drops the group reports it
	// returns true for, as a report RPC that timed out would.
	reportFilter atomic.Pointer[func(*fsm.Report) bool]
}

// New validates cfg and builds a Server. Nothing listens until Start.
func New(cfg config.Config, opts Options) (*Server, error) {
	cfg.SetDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration:\n%w", errs)
	}
	logger := opts.Logger
	if logger == nil {
		out := opts.LogOutput
		if out == nil {
			out = os.Stderr
		}
		logger = hclog.New(&hclog.LoggerOptions{Name: "raftha", Level: hclogLevel(cfg.LogLevel), Output: out})
	}
	logger = logger.With("member", cfg.NodeID)
	reg := opts.Registry
	if reg == nil {
		reg = DefaultRegistry()
	}
	// Embedding: group files may use type `go` whatever the registry (embed.go).
	if err := ensureHandlerType(reg); err != nil {
		return nil, err
	}
	b, err := transport.Load(transport.Files{CA: cfg.TLS.CA, Cert: cfg.TLS.Cert, Key: cfg.TLS.Key})
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, logger: logger, registry: reg, bundle: b, fsm: fsm.New(), fencer: opts.Fencer, exitFn: opts.Exit, rejoin: opts.Rejoin}
	s.metrics = newMetrics(s)
	// Embedding: keep Options.Handlers for `go` resources (embed.go).
	if err := attachHandlers(s, opts.Handlers); err != nil {
		return nil, err
	}
	return s, nil
}

// Config returns the validated configuration (with defaults filled).
func (s *Server) Config() config.Config { return s.cfg }

// Logger returns the server's logger.
func (s *Server) Logger() hclog.Logger { return s.logger }

// Start opens the Raft store, joins (or bootstraps) the cluster, and starts
// the API, the lease keeper and the resource runner. It returns once every
// listener is up; leadership and placement happen in the background.
func (s *Server) Start() (err error) {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	if err := s.setupAWS(s.ctx); err != nil {
		return err
	}
	s.mux, err = transport.Listen(s.cfg.Bind, s.cfg.Advertise, s.bundle, s.logger)
	if err != nil {
		return err
	}
	s.mux.SetAuthorizer(s.isMember)
	s.pool = transport.NewPool(s.mux)
	s.rpcSrv, err = transport.NewRPCServer("Raftha", &rpcEndpoint{s: s})
	if err != nil {
		return err
	}
	s.mux.Serve(s.rpcSrv.ServeConn)
	if err := s.setupRaft(); err != nil {
		return err
	}
	// The lease and the runner exist before the API serves (metrics read
	// them) and before heartbeats report what runs here.
	s.lease = newLease(s)
	if s.cfg.Role == config.RoleNode {
		if s.runner, err = newRunner(s); err != nil {
			return err
		}
	}
	if err := s.startAPI(); err != nil {
		return err
	}
	s.goFn(s.monitorLeadership)
	s.goFn(s.lease.run)
	s.goFn(s.watchSettings)
	if s.cfg.Fencing.Watchdog == config.WatchdogNone && s.cfg.Role == config.RoleNode && s.cfg.Fencing.Mode == config.FencingLeaseOnly {
		s.logger.Warn("fencing.watchdog none on a lease-only node: nothing resets this host if the agent hangs; a lost owner's safety rests on the agent fencing itself")
	}
	if s.cfg.Fencing.Watchdog != "" && s.cfg.Fencing.Watchdog != config.WatchdogNone {
		wd, err := openWatchdog(s)
		if err != nil {
			return err
		}
		s.watchdog = wd
		s.goFn(wd.run)
	}
	if s.runner != nil {
		s.goFn(s.runner.guard)
		s.goFn(s.runner.run)
	}
	s.logger.Info("member started", "role", s.cfg.Role, "raft", s.mux.Addr().String(), "api", s.apiLn.Addr().String())
	return nil
}

func (s *Server) goFn(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// Shutdown stops the member. Groups it owns are stopped in reverse order
// first (and their stop reported, so the leader can place them elsewhere),
// then it leaves leadership if it has it, then everything closes.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	if s.stopped.Load() || s.cancel == nil {
		return nil
	}
	if s.runner != nil {
		s.runner.shutdown(ctx)
	}
	if s.raft != nil && s.raft.State() == raft.Leader {
		if f := s.raft.LeadershipTransfer(); f.Error() != nil {
			s.logger.Debug("leadership transfer on shutdown failed", "error", f.Error())
		}
	}
	s.closeAll()
	return nil
}

// Kill stops the member abruptly, as a crash would: no handover, no
// reports, resources left as they are. For tests and `raftha demo`.
func (s *Server) Kill() {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	if s.runner != nil {
		s.runner.abandon()
	}
	s.closeAll()
	if s.runner != nil {
		// The workers end with the runner's context, except one inside a
		// resource call (a crash leaves those be); wait a little for them,
		// so nothing of this member writes after Kill returns.
		done := make(chan struct{})
		go func() { s.runner.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
}

func (s *Server) closeAll() {
	if s.stopped.Swap(true) {
		return
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.apiSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.apiSrv.Shutdown(ctx)
		cancel()
	}
	if s.raft != nil {
		if err := s.raft.Shutdown().Error(); err != nil {
			s.logger.Warn("raft shutdown", "error", err)
		}
	}
	if s.pool != nil {
		s.pool.Close()
	}
	if s.trans != nil {
		s.trans.Close()
	}
	if s.mux != nil {
		s.mux.Close()
	}
	s.wg.Wait()
	if s.store != nil {
		s.store.Close()
	}
	s.logger.Info("member stopped")
}

// isMember reports whether a certificate identity names a member: one of
// the configured initial members or one the log knows (members add
// records a member in the log before adding it to Raft).
func (s *Server) isMember(id string) bool {
	for _, m := range s.cfg.Members {
		if m.ID == id {
			return true
		}
	}
	known := false
	s.fsm.Read(func(st *fsm.State) { _, known = st.Members[id] })
	return known
}

// Done is closed when the server stops.
func (s *Server) Done() <-chan struct{} { return s.ctx.Done() }

// RaftAddr is the advertised Raft/RPC address.
func (s *Server) RaftAddr() string { return s.mux.Addr().String() }

// APIAddr is the bound API address.
func (s *Server) APIAddr() string { return s.apiLn.Addr().String() }

// IsLeader reports whether this member is the ready leader.
func (s *Server) IsLeader() bool { return s.leader() != nil }

// State returns a deep copy of the replicated state as this member has
// applied it (possibly stale on a follower).
func (s *Server) State() *fsm.State { return s.fsm.View() }

// LeaderID returns the id of the leader this member knows, or "".
func (s *Server) LeaderID() string {
	_, id := s.raft.LeaderWithID()
	return string(id)
}

func (s *Server) leaderAddr() (raft.ServerAddress, raft.ServerID) {
	return s.raft.LeaderWithID()
}

// proposeTimeout bounds one Raft apply.
const proposeTimeout = 10 * time.Second

// propose commits c through the leader (locally or by RPC) and returns the
// FSM's result. A refused command returns its FSM error.
func (s *Server) propose(ctx context.Context, c fsm.Command) (fsm.Result, error) {
	data, err := fsm.Encode(c)
	if err != nil {
		return fsm.Result{}, err
	}
	if s.leader() != nil {
		return s.applyLocal(data)
	}
	addr, id := s.leaderAddr()
	if id == raft.ServerID(s.cfg.NodeID) {
		return fsm.Result{}, fmt.Errorf("%w: leader not ready yet", ErrNotLeader)
	}
	if addr == "" {
		return fsm.Result{}, ErrNoLeader
	}
	var reply ProposeReply
	if err := s.pool.Call(ctx, string(addr), "Raftha.Propose", ProposeArgs{Cmd: data}, &reply); err != nil {
		return fsm.Result{}, fmt.Errorf("forward to leader %s: %w", addr, err)
	}
	if reply.NotLeader {
		return fsm.Result{}, ErrNotLeader
	}
	if reply.Err != "" {
		return fsm.Result{Epoch: reply.Epoch, Err: remoteError(reply.Code, reply.Err)}, nil
	}
	return fsm.Result{Epoch: reply.Epoch}, nil
}

func (s *Server) applyLocal(data []byte) (fsm.Result, error) {
	start := time.Now()
	f := s.raft.Apply(data, proposeTimeout)
	err := f.Error()
	s.metrics.applyDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return fsm.Result{}, fmt.Errorf("%w: %v", ErrNotLeader, err)
		}
		return fsm.Result{}, err
	}
	res, _ := f.Response().(fsm.Result)
	return res, nil
}

// commitLocal applies c on this member, which must be the raft leader.
func (s *Server) commitLocal(c fsm.Command) (uint64, error) {
	data, err := fsm.Encode(c)
	if err != nil {
		return 0, err
	}
	res, err := s.applyLocal(data)
	if err != nil {
		return 0, err
	}
	return res.Epoch, res.Err
}

// commit is propose that folds an FSM refusal into the error.
func (s *Server) commit(ctx context.Context, c fsm.Command) (uint64, error) {
	res, err := s.propose(ctx, c)
	if err != nil {
		return 0, err
	}
	return res.Epoch, res.Err
}

func (s *Server) header(by string) fsm.Header {
	if by == "" {
		by = s.cfg.NodeID
	}
	return fsm.Header{At: time.Now().UTC().Round(time.Millisecond), By: by}
}
