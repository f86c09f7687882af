package server

import (
	"fmt"
	"time"
)

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
	rh, re, rl := raftTimings(c.Timing)
	b := Budget{RaftHeartbeatTimeout: rh, RaftElectionTimeout: re, RaftLeaderLease: rl}
	b.OwnerFollower = append(b.OwnerFollower,
		BudgetStep{"detect: leader hears nothing from the owner for failover_timeout", fo + hb/2, fo + hb, "the leader checks every heartbeat"},
		BudgetStep{"commit the takeover (new epoch, state fencing)", commitEstimate, commitEstimate, "one Raft round trip with fsync"},
		BudgetStep{"winner confirms it owns the group (linearizable read)", commitEstimate, c.Timing.Lease.D(), "bounded by the lease"},
	)
	switch c.Fencing.Mode {
	case FencingLeaseOnly:
		wait := c.LeaseOnlyWait()
		extra := max(0, wait-fo)
		b.OwnerFollower = append(b.OwnerFollower, BudgetStep{"lease-only: wait until the owner's lease and self-fence window have passed", extra, extra,
			fmt.Sprintf("lease %s + stop_deadline %s + heartbeat %s = %s after the last contact", lease, c.Fencing.StopDeadline, hb, wait)})
	default:
		b.OwnerFollower = append(b.OwnerFollower,
			BudgetStep{"fence: EC2 StopInstances (force, skip OS shutdown)", 150 * time.Millisecond, c.AWS.CallTimeout.D(), "aws.call_timeout, retries on throttling/5xx inside it"},
			BudgetStep{"fence: wait until the instance is stopped", 250 * time.Millisecond, c.Fencing.StopTimeout.D(), "fencing.stop_timeout; a real forced stop often takes 10-60 s on AWS, moto is immediate; a failed fence is retried with backoff (0.5 s doubling to 30 s) and nothing starts meanwhile"},
		)
	}
	b.OwnerFollower = append(b.OwnerFollower,
		BudgetStep{"commit fenced, start resources in order", commitEstimate, 0, "plus each resource's start time (exec: its timeout, default 30s)"},
	)
	b.OwnerLeaderExtra = []BudgetStep{
		{"raft notices the leader is gone and elects a new one", re + re/2, 2 * re, "raft heartbeat/election timeout 2 x heartbeat, randomized up to 2x"},
		{"new leader: Barrier, then waits lease + heartbeat for members it has not heard from", lease + hb, lease + 2*hb, "a new leader must wait at least a lease before taking a group away; this replaces the detect step's failover_timeout"},
	}
	b.SelfFence = lease + c.Fencing.StopDeadline.D()
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
