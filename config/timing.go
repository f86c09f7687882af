package config

import (
	"fmt"
	"time"

	"github.com/raftha/raftha/fsm"
)

// selfFenceGrace is how long past fencing.stop_deadline the self-fence
// watcher waits for a stop that ignores its context before it takes
// self_fence_action. It is one named term of the lease-only wait
// (leaseOnlyWaitTerms), so the wait always covers it.
const selfFenceGrace = 100 * time.Millisecond

// WaitTerm is one term of the lease-only wait.
type WaitTerm struct {
	// Term names the term (a configuration key or a constant).
	Term string
	// D is its value.
	D time.Duration
	// Why says what it covers.
	Why string
}

// leaseOnlyWaitTerms is the lease-only wait term by term: how long after
// the leader last heard from a lost owner a lease-only takeover may start.
// The owner's lease may still run (lease, counted from when it sent its
// last heartbeat, which is no later than when the leader received it);
// then it has stop_deadline to stop its resources; the self-fence watcher
// waits selfFenceGrace more before the hard action; and one heartbeat of
// margin covers clock-rate drift between the two machines and the
// scheduling delay of noticing the expiry (the runner notices it within a
// few milliseconds; the watchdog feeder within a heartbeat).
func leaseOnlyWaitTerms(cs fsm.ClusterSettings) []WaitTerm {
	return []WaitTerm{
		{"timing.lease", cs.Lease, "the lost owner's lease may still run"},
		{"fencing.stop_deadline", cs.StopDeadline, "it then stops its resources within this deadline"},
		{"self-fence grace", selfFenceGrace, "the self-fence watcher's grace before self_fence_action"},
		{"clock/heartbeat margin (timing.heartbeat)", cs.Heartbeat, "clock-rate drift and scheduling; must be at least the self-fence grace"},
	}
}

// LeaseOnlyWaitOf sums leaseOnlyWaitTerms.
func LeaseOnlyWaitOf(cs fsm.ClusterSettings) time.Duration {
	var d time.Duration
	for _, t := range leaseOnlyWaitTerms(cs) {
		d += t.D
	}
	return d
}

// BudgetStep is one step of the failover time budget.
type BudgetStep struct {
	// Step names what happens.
	Step string
	// Typical is what the step usually takes on a healthy network.
	Typical time.Duration
	// Worst is the bound the configuration puts on it (0: unbounded by
	// configuration, see Note).
	Worst time.Duration
	// Note explains where the figure comes from.
	Note string
}

// Budget is the failover time budget of one configuration.
type Budget struct {
	// RaftHeartbeatTimeout, RaftElectionTimeout and RaftLeaderLease are the
	// hashicorp/raft timers derived from timing.heartbeat.
	RaftHeartbeatTimeout, RaftElectionTimeout, RaftLeaderLease time.Duration
	// OwnerFollower is the owner-crash path when the owner is a follower.
	OwnerFollower []BudgetStep
	// OwnerLeaderExtra is added when the crashed owner was also the leader.
	OwnerLeaderExtra []BudgetStep
	// SelfFence is when a cut-off owner stops acting, after its last
	// successful heartbeat.
	SelfFence time.Duration
	// RelayMargin is how long a relayed heartbeat's round trip may take
	// while an owner's lease survives a node-link partition (see
	// server/internal/cluster/relay.go): the relay starts one heartbeat into a beat that
	// has no answer, and the next beat starts a heartbeat later, so the
	// lease holds while 2 × heartbeat + the round trip < lease. Validate's
	// lease ≥ 3 × heartbeat keeps it at least one heartbeat.
	RelayMargin time.Duration
	// LeaseOnlyWait is the lease-only wait term by term (its sum is
	// Config.LeaseOnlyWait).
	LeaseOnlyWait []WaitTerm
	// Warnings are availability risks (not safety: config check refuses
	// those).
	Warnings []string
}

// commitEstimate is a typical Raft commit with fsync on a LAN.
const commitEstimate = 20 * time.Millisecond

// TimingBudget explains how the configured timings add up to the time from
// an owner's crash to its groups running elsewhere.
func TimingBudget(c Config) Budget {
	c.SetDefaults()
	hb, lease, fo := c.Timing.Heartbeat.D(), c.Timing.Lease.D(), c.Timing.FailoverTimeout.D()
	rh, re, rl := RaftTimings(c.Timing)
	b := Budget{RaftHeartbeatTimeout: rh, RaftElectionTimeout: re, RaftLeaderLease: rl}
	b.OwnerFollower = append(b.OwnerFollower,
		BudgetStep{"detect: leader hears nothing from the owner for failover_timeout", fo - hb/2, fo, "the leader looks when the silence reaches failover_timeout; the owner's last heartbeat came up to a heartbeat before the crash"},
		BudgetStep{"commit the takeover (new epoch, state fencing)", commitEstimate, commitEstimate, "one Raft round trip with fsync"},
		BudgetStep{"winner confirms it owns the group (linearizable read)", commitEstimate, c.Timing.Lease.D(), "bounded by the lease"},
	)
	switch c.Fencing.Mode {
	case FencingLeaseOnly:
		// The wait counts from the owner's last contact, so detection
		// overlaps it: the decision records the silence already passed,
		// and the winner waits the rest (its own configuration's wait less
		// that silence, if longer).
		wait := c.LeaseOnlyWait()
		extra := max(0, wait-fo)
		b.OwnerFollower = append(b.OwnerFollower, BudgetStep{"lease-only: wait until the owner's lease and self-fence window have passed", extra, extra,
			fmt.Sprintf("lease %s + stop_deadline %s + self-fence grace %s + heartbeat margin %s = %s after the last contact", lease, c.Fencing.StopDeadline, selfFenceGrace, hb, wait)})
	default:
		b.OwnerFollower = append(b.OwnerFollower,
			BudgetStep{"fence: EC2 StopInstances (force, skip OS shutdown)", 150 * time.Millisecond, c.AWS.CallTimeout.D(), "aws.call_timeout; a hung attempt is abandoned after 1 s (doubling) and throttling/5xx are retried inside it within 0.5 s"},
			BudgetStep{"fence: wait until the instance is stopped", 250 * time.Millisecond, c.Fencing.StopTimeout.D(), "fencing.stop_timeout; a real forced stop often takes 10-60 s on AWS, moto is immediate; a failed fence is retried with backoff (0.5 s doubling to 30 s; at most 250 ms when EC2 did not answer) and nothing starts meanwhile"},
		)
	}
	b.OwnerFollower = append(b.OwnerFollower,
		BudgetStep{"commit fenced, start resources in order", commitEstimate, 0, "plus each resource's start time (exec: its timeout, default 30s)"},
	)
	b.OwnerLeaderExtra = []BudgetStep{
		{"raft notices the leader is gone and elects a new one", re + re/2, 2 * re, "raft heartbeat/election timeout 2 x heartbeat, randomized up to 2x"},
		{"new leader: waits until failover_timeout after the old leader last answered it (at least 2 heartbeats after it is ready)", max(2*hb, fo-hb/2-(re+re/2)), max(2*hb, min(lease+hb, fo-re)), "the old leader is lost, as a follower owner is, failover_timeout after its last contact; members it never heard from wait lease + heartbeat after readiness; this replaces the detect step"},
	}
	b.SelfFence = lease + c.Fencing.StopDeadline.D() + selfFenceGrace
	b.RelayMargin = lease - 2*hb
	b.LeaseOnlyWait = leaseOnlyWaitTerms(c.ClusterSettings())
	if worstElection := 2*re + commitEstimate; worstElection >= lease {
		b.Warnings = append(b.Warnings, fmt.Sprintf("a Raft election can take up to %s, longer than the lease (%s): owners may self-fence (stop and restart their groups) during a leader election; raise timing.lease to at least %s to avoid that", worstElection, lease, (worstElection+hb).Round(time.Millisecond)))
	}
	return b
}

// Total sums Typical and Worst over steps; worst is 0 when a step is
// unbounded.
func Total(steps []BudgetStep) (typical, worst time.Duration, bounded bool) {
	bounded = true
	for _, s := range steps {
		typical += s.Typical
		if s.Worst == 0 {
			bounded = false
		}
		worst += s.Worst
	}
	return typical, worst, bounded
}

// RaftTimings derives hashicorp/raft's timers from the member timing.
// Followers start an election after 2 heartbeats without the leader (raft
// randomizes that up to 2x), and a leader steps down after 2 heartbeats
// without a quorum. The worst-case election, about 4 heartbeats, stays
// inside the default lease (5 heartbeats), so owners keep their groups
// through an ordinary leader change; `raftha timing explain` warns when a
// configuration breaks that.
func RaftTimings(t TimingConfig) (heartbeat, election, leaderLease time.Duration) {
	hb := t.Heartbeat.D()
	return 2 * hb, 2 * hb, 2 * hb
}

// ClusterSettings are the settings of c that every member must share.
func (c *Config) ClusterSettings() fsm.ClusterSettings {
	return fsm.ClusterSettings{FencingMode: c.Fencing.Mode, Heartbeat: c.Timing.Heartbeat.D(), Lease: c.Timing.Lease.D(), StopDeadline: c.Fencing.StopDeadline.D()}
}
