// Package cluster owns member-to-member RPC: the endpoint on the mTLS port, caller identity, the one forwarding path for leader-bound calls, relayed lease calls and the error codec.
package cluster

import (
	"context"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/internal/ratelog"
	"github.com/raftha/raftha/server/internal/rpcwire"
	"github.com/raftha/raftha/transport"
)

// Host is what the cluster role reads from the rest of the agent: Raft's
// view of the leader and the configuration, and the API's roles.
type Host interface {
	// Leading reports whether this member is the ready leader (its
	// post-election barrier completed): it runs leader-bound calls itself.
	Leading() bool
	// Leader is the Raft address and id of the leader this member knows;
	// both "" when none.
	Leader() (addr, id string)
	// Servers is this member's Raft configuration; ok is false until Raft
	// is open.
	Servers() (servers []raft.Server, ok bool)
	// RoleOf is the role this member's access settings give an API caller
	// (the leader's role counts for a forwarded operator call).
	RoleOf(identity string, kind transport.CertKind) api.Role
}

// Local is the leader's half of every leader-bound call: what the ready
// leader runs, for itself or for a member that forwarded the call. The
// leader role implements it; this package only carries the calls.
type Local interface {
	// Heartbeat records a member's heartbeat and returns the groups it
	// owns, confirmed linearizably.
	Heartbeat(ctx context.Context, a rpcwire.HeartbeatArgs) (owned map[string]uint64, err error)
	// Confirm checks, linearizably, that node owns group at epoch.
	Confirm(ctx context.Context, group, node string, epoch uint64) error
	// Apply applies an encoded fsm.Command and folds the FSM's refusal
	// into the error; it returns the result's epoch.
	Apply(cmd []byte) (uint64, error)
	// AddMember records a member and adds it to the Raft configuration.
	AddMember(ctx context.Context, a rpcwire.MemberArgs) error
	// RemoveMember removes member id; by is the author.
	RemoveMember(ctx context.Context, id, by string) error
	// Status is the leader's cluster status.
	Status(ctx context.Context) (*api.Status, error)
	// Transfer is a planned move of group to node to, by by.
	Transfer(ctx context.Context, group, to, by string) (api.GroupStatus, error)
	// Probe answers a member that starts with an empty data_dir (any
	// member answers, leader or not).
	Probe(node string) (rpcwire.ProbeReply, error)
}

// Deps are the values a Cluster is built from.
type Deps struct {
	// Config is the member's validated configuration.
	Config config.Config
	// FSM is the member's replicated state.
	FSM *fsm.FSM
	// Logger and LogLimit log (rate-limited for repeated lines).
	Logger   hclog.Logger
	LogLimit *ratelog.Limiter
	// Ctx is the member's lifetime: served calls end with it.
	Ctx context.Context
	// Operator and Lease are the pools of the two lanes (see Lane).
	Operator, Lease *transport.Pool
	// LegacyPeers counts member-port connections admitted with a legacy
	// certificate, by peer.
	LegacyPeers *prometheus.CounterVec
	// Host and Local: see their types.
	Host  Host
	Local Local
}

// Cluster is a member's cluster RPC role.
type Cluster struct {
	cfg    config.Config
	fsm    *fsm.FSM
	log    hclog.Logger
	limit  *ratelog.Limiter
	ctx    context.Context
	pools  [2]*transport.Pool
	legacy *prometheus.CounterVec
	host   Host
	local  Local
}

// New returns the cluster role of a member.
func New(d Deps) *Cluster {
	c := &Cluster{cfg: d.Config, fsm: d.FSM, log: d.Logger, limit: d.LogLimit, ctx: d.Ctx, legacy: d.LegacyPeers, host: d.Host, local: d.Local}
	c.pools[LaneOperator], c.pools[LaneLease] = d.Operator, d.Lease
	return c
}

// Lane is a class of member-to-member traffic; each has connections of its
// own (see transport.Pool).
type Lane int

const (
	// LaneOperator carries operator calls and forwarded commands: a
	// client may cancel them, which closes their connection.
	LaneOperator Lane = iota
	// LaneLease carries what an owner's lease depends on (heartbeats,
	// confirms) and the start-up probe; no operator call can close them.
	LaneLease
)

// Pool returns the connection pool of lane l.
func (c *Cluster) Pool(l Lane) *transport.Pool { return c.pools[l] }

// Method is the wire name of an endpoint method.
type Method string

// The endpoint's methods (service Raftha on the member port).
const (
	MethodHeartbeat    Method = "Raftha.Heartbeat"
	MethodConfirm      Method = "Raftha.Confirm"
	MethodPropose      Method = "Raftha.Propose"
	MethodAddMember    Method = "Raftha.AddMember"
	MethodRemoveMember Method = "Raftha.RemoveMember"
	MethodStatus       Method = "Raftha.Status"
	MethodTransfer     Method = "Raftha.Transfer"
	MethodProbe        Method = "Raftha.Probe"
)

// Service is the net/rpc service name the endpoint is registered under.
const Service = "Raftha"
