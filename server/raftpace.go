package server

import (
	"time"

	"github.com/hashicorp/raft"
)

// LeaderPaceFactor is how many times longer than a follower's raft
// heartbeat timeout the leader's own setting is while it leads. raft sends
// its idle heartbeats every HeartbeatTimeout/10 to HeartbeatTimeout/5 and
// uses the same setting as a follower's election timeout, so one setting
// paces both. With the default ratio an idle leader sends a heartbeat
// every 60-120 ms (default profile) to every follower on top of the
// leadership rounds that confirm the members' lease renewals, and those
// RPCs, with the wake-ups of the Go runtime around each, were most of an
// idle member's CPU (docs/scale.md, "Idle footprint").
//
// Every member renews its lease on each boundary of timing.heartbeat and
// the leader confirms those renewals with one leadership round
// (VerifyLeader, leader.GatherWindow), which sends every follower a
// heartbeat and restarts raft's idle-heartbeat timer. With 4 that timer
// runs 0.8 to 1.6 × timing.heartbeat, so while the rounds come on time
// raft adds an idle heartbeat in about one interval out of four, and a
// follower hears from the leader every heartbeat interval. When no round
// comes (before the leader role is ready, or every renewal stalls), raft's
// own heartbeats still go at least every 0.8 × a follower's shortest
// election timeout (2 × heartbeat), which is unchanged: a follower
// notices a dead leader exactly as fast as before.
// What the factor also scales on the leader:
//   - raft's wait before retrying a follower whose heartbeats failed
//     (HeartbeatTimeout/2, reached after about 1.3 s of failed
//     heartbeats): up to 4 × heartbeat (1.2 s by default). A follower that
//     comes back from a longer outage may time out before the leader's
//     next heartbeat; raft's pre-vote (on, TestPreVoteStaysOn) keeps it
//     from disturbing the leader, and it follows again at that heartbeat.
//     Meanwhile it knows no leader, so its lease heartbeats go through the
//     other members (cluster relays) until then.
//   - when no leadership round comes, the margin of raft's own leader
//     lease (LeaderLeaseTimeout, 2 × heartbeat, not paced) over the idle
//     heartbeat gap is 0.4 × heartbeat; raft's commit tick on the
//     replication connection (every heartbeat, raftConfig) also renews the
//     leader's contact with each follower.
//   - raft's leadership-transfer timeout (ElectionTimeout): not while a
//     transfer runs. The leader takes the follower's timeouts back for the
//     transfer (transferLeadership), so a transfer that fails blocks
//     commands for 2 × heartbeat, as without the pace.
//
// Lease renewals and confirmations are answered by leadership rounds the
// leader starts for them, never by these idle heartbeats, so no
// confirmation waits on this pace (safety clauses 2 and 3).
const LeaderPaceFactor = 4

// pacedTimeouts are the heartbeat and election timeouts raft runs with:
// the follower's (timing-derived) values, or LeaderPaceFactor times them
// while leading.
func pacedTimeouts(heartbeat, election time.Duration, leading bool) (time.Duration, time.Duration) {
	if !leading {
		return heartbeat, election
	}
	return time.Duration(float64(heartbeat) * LeaderPaceFactor), time.Duration(float64(election) * LeaderPaceFactor)
}

// pacer carries what paceRaft hears besides raft's notifications.
type pacer struct {
	transfer chan paceTransfer // a leadership transfer starts or ends
	done     chan struct{}     // closed once paceRaft returned
}

// paceTransfer moves the count of running transfers by delta; paceRaft
// closes done once raft runs with the timeouts that follow.
type paceTransfer struct {
	delta int
	done  chan struct{}
}

// paceRaft forwards raft's leadership notifications from in to out, in
// order, and sets raft's timeouts for each one as it arrives: the
// leader's slower heartbeat pace on gaining leadership, the follower's
// election timeout back on losing it, and the follower's values too while
// a leadership transfer runs (s.pace.transfer). The timeouts follow raft
// at once even while the leader role is slow to take the notifications
// (they queue here, in order: the role must see every change of term). It
// returns when in is closed or the member stops.
//
// Only this goroutine reloads raft's configuration, so the read-modify-
// write below is not raced (raft.ReloadableConfig's caveat).
func (s *Server) paceRaft(in <-chan bool, out chan<- bool, heartbeat, election time.Duration) {
	var queue []bool
	leading, transfers := false, 0
	set := func() {
		rc := s.raft.ReloadableConfig()
		rc.HeartbeatTimeout, rc.ElectionTimeout = pacedTimeouts(heartbeat, election, leading && transfers == 0)
		if err := s.raft.ReloadConfig(rc); err != nil {
			// Validated at start with the same values scaled: a
			// failure leaves raft at its previous (valid) pace.
			s.logger.Warn("could not set raft's heartbeat pace", "leading", leading, "transfers", transfers, "error", err)
		}
	}
	for {
		var send chan<- bool // nil (never ready) while nothing is queued
		var next bool
		if len(queue) > 0 {
			send, next = out, queue[0]
		}
		select {
		case l, ok := <-in:
			if !ok {
				return
			}
			leading = l
			set()
			queue = append(queue, leading)
		case t := <-s.pace.transfer:
			transfers += t.delta
			set()
			close(t.done)
		case send <- next:
			queue = queue[1:]
		case <-s.ctx.Done():
			return
		}
	}
}

// transferLeadership runs a leadership transfer (transfer calls raft)
// with raft's unpaced timeouts, so that raft gives up on a transfer that
// fails after a follower's election timeout, not LeaderPaceFactor times
// that (raft refuses commands meanwhile). The pace comes back when it
// returns, if this member still leads.
func (s *Server) transferLeadership(transfer func() raft.Future) error {
	s.paceTransfer(1)
	defer s.paceTransfer(-1)
	return transfer().Error()
}

// paceTransfer tells paceRaft that a transfer starts (1) or ended (-1)
// and waits until raft runs with the timeouts that follow. Without a
// running paceRaft (not started, or returned) there is nothing to pace.
func (s *Server) paceTransfer(delta int) {
	if s.pace.transfer == nil {
		return
	}
	t := paceTransfer{delta: delta, done: make(chan struct{})}
	select {
	case s.pace.transfer <- t:
		<-t.done
	case <-s.pace.done:
	case <-s.ctx.Done():
	}
}

// validatePace checks that raft accepts the leader's paced timeouts too.
func validatePace(rc raft.Config) error {
	rc.HeartbeatTimeout, rc.ElectionTimeout = pacedTimeouts(rc.HeartbeatTimeout, rc.ElectionTimeout, true)
	return raft.ValidateConfig(&rc)
}
