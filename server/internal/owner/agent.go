package owner

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftha/raftha/cloud"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/internal/ratelog"
	"github.com/raftha/raftha/resources"
)

// proposeTimeout bounds one report or note the owner commits (the
// server's own proposals use the same bound).
const proposeTimeout = 10 * time.Second

// RunnerOptions are the plain values and services the runner reads; the
// calls that need the rest of the agent go through Host.
type RunnerOptions struct {
	// Ctx is the member's lifetime: the runner ends with it.
	Ctx context.Context
	// Config is the member's configuration (node id, timing, fencing,
	// data_dir, aws call timeout).
	Config config.Config
	// FSM is the member's applied log.
	FSM *fsm.FSM
	// Registry builds the resources of a group spec.
	Registry *resources.Registry
	// Lease is this member's owner lease.
	Lease *Lease
	// Logger and LogLimit (rate-limited warnings) are the member's.
	Logger   hclog.Logger
	LogLimit *ratelog.Limiter
	// Leaving is set while the member hands its groups over (Shutdown);
	// heartbeats carry it.
	Leaving *atomic.Bool
	// ReportFilter, when set (tests only), drops the reports it matches.
	ReportFilter *atomic.Pointer[func(*fsm.Report) bool]
	// Fencer stops a lost owner's instance (aws-stop); nil in lease-only
	// mode without one.
	Fencer cloud.Fencer
	// InstanceID is this member's EC2 instance id ("" off EC2);
	// CloudResources is what cloud resource types read
	// (cloud.Env.Resources).
	InstanceID     string
	CloudResources any
	// ResolveVolume and Handlers go into every resources.Env.
	ResolveVolume func(volumeID, requested string) (string, error)
	Handlers      resources.HandlerHost
	// Metrics are the collectors the owner observes.
	Metrics Metrics
}

// Metrics are the Prometheus collectors the owner role observes (defined
// and registered by the server with its other metrics).
type Metrics struct {
	// Fences counts fencing attempts by method and result;
	// FenceDuration observes successful fences.
	Fences        *prometheus.CounterVec
	FenceDuration prometheus.Observer
	// TakeoverToOnline observes a won takeover until online here.
	TakeoverToOnline prometheus.Observer
	// Checks counts resource checks by group, resource and result.
	Checks *prometheus.CounterVec
	// SelfFences counts groups stopped because the lease ran out.
	SelfFences prometheus.Counter
	// ResourceCheckFailures and ResourceRestarts count failed checks and
	// monitor restarts by group and resource.
	ResourceCheckFailures, ResourceRestarts *prometheus.CounterVec
}

// agent is what the owner's code reads of the member: the options as
// plain values, and the Host for everything else.
type agent struct {
	host          Host
	ctx           context.Context
	cfg           config.Config
	fsm           *fsm.FSM
	registry      *resources.Registry
	lease         *Lease
	logger        hclog.Logger
	logLimit      *ratelog.Limiter
	leaving       *atomic.Bool
	reportFilter  *atomic.Pointer[func(*fsm.Report) bool]
	fencer        cloud.Fencer
	instance      string
	cloudRes      any
	resolveVolume func(volumeID, requested string) (string, error)
	handlers      resources.HandlerHost
	metrics       Metrics
	records       Records
	fences        fenceRounds
}

func newAgent(h Host, o RunnerOptions) *agent {
	if o.LogLimit == nil {
		o.LogLimit = &ratelog.Limiter{}
	}
	if o.Leaving == nil {
		o.Leaving = new(atomic.Bool)
	}
	if o.ReportFilter == nil {
		o.ReportFilter = new(atomic.Pointer[func(*fsm.Report) bool])
	}
	return &agent{host: h, ctx: o.Ctx, cfg: o.Config, fsm: o.FSM, registry: o.Registry, lease: o.Lease,
		logger: o.Logger, logLimit: o.LogLimit, leaving: o.Leaving, reportFilter: o.ReportFilter,
		fencer: o.Fencer, instance: o.InstanceID, cloudRes: o.CloudResources,
		resolveVolume: o.ResolveVolume, handlers: o.Handlers, metrics: o.Metrics, records: NewRecords(o.Config.DataDir)}
}

// confirm asks the leader, linearizably, whether this node owns group at
// epoch. Success also renews the lease for that group, from the send time.
func (s *agent) confirm(ctx context.Context, group string, epoch uint64) error {
	sent := s.lease.opt.Clock.Now() // the lease table's clock: the renewal counts from the send
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timing.Lease.D())
	defer cancel()
	err := s.host.Confirm(ctx, group, epoch)
	if err == nil {
		s.lease.table.Confirmed(sent, group, epoch)
	}
	return err
}

func (s *agent) commit(ctx context.Context, c fsm.Command) (uint64, error) {
	return s.host.Commit(ctx, c)
}

func (s *agent) recordEventually(n *fsm.Note) { s.host.RecordEventually(n) }

func (s *agent) goFn(fn func()) { s.host.Go(fn) }
