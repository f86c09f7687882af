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
// RPCs were about half of an idle member's CPU (docs/scale.md, "Idle
// footprint").
//
// With 1.6 the leader's own heartbeats go every 0.32 to 0.64 ×
// timing.heartbeat instead of every 0.2 to 0.4 ×, still at most a third of
// a follower's shortest election timeout (2 × heartbeat), which is
// unchanged: a follower notices a dead leader exactly as fast as before.
// What the factor also scales on the leader, each bounded so:
//   - raft's wait before retrying a follower whose heartbeats failed
//     (HeartbeatTimeout/2): 0.8 × a follower's shortest election timeout,
//     so a follower that comes back hears from the leader before its
//     timer runs out;
//   - raft's leadership-transfer timeout (ElectionTimeout, which raft
//     requires to be at least the heartbeat timeout): 3.2 × heartbeat
//     instead of 2 for a transfer that fails.
//
// Lease renewals and confirmations are answered by leadership rounds the
// leader starts for them (VerifyLeader, shared among the heartbeats of one
// boundary: leader.GatherWindow), never by these idle heartbeats, so no
// confirmation waits on this pace (safety clauses 2 and 3).
const LeaderPaceFactor = 1.6

// pacedTimeouts are the heartbeat and election timeouts raft runs with:
// the follower's (timing-derived) values, or LeaderPaceFactor times them
// while leading.
func pacedTimeouts(heartbeat, election time.Duration, leading bool) (time.Duration, time.Duration) {
	if !leading {
		return heartbeat, election
	}
	return time.Duration(float64(heartbeat) * LeaderPaceFactor), time.Duration(float64(election) * LeaderPaceFactor)
}

// paceRaft forwards raft's leadership notifications from in to out, in
// order, and sets raft's timeouts for each one as it arrives: the
// leader's slower heartbeat pace on gaining leadership, the follower's
// election timeout back on losing it. The timeouts follow raft at once
// even while the leader role is slow to take the notifications (they
// queue here, in order: the role must see every change of term). It
// returns when in is closed or the member stops.
//
// Only this goroutine reloads raft's configuration, so the read-modify-
// write below is not raced (raft.ReloadableConfig's caveat).
func (s *Server) paceRaft(in <-chan bool, out chan<- bool, heartbeat, election time.Duration) {
	var queue []bool
	for {
		var send chan<- bool // nil (never ready) while nothing is queued
		var next bool
		if len(queue) > 0 {
			send, next = out, queue[0]
		}
		select {
		case leading, ok := <-in:
			if !ok {
				return
			}
			rc := s.raft.ReloadableConfig()
			rc.HeartbeatTimeout, rc.ElectionTimeout = pacedTimeouts(heartbeat, election, leading)
			if err := s.raft.ReloadConfig(rc); err != nil {
				// Validated at start with the same values scaled: a
				// failure leaves raft at its previous (valid) pace.
				s.logger.Warn("could not set raft's heartbeat pace", "leading", leading, "error", err)
			}
			queue = append(queue, leading)
		case send <- next:
			queue = queue[1:]
		case <-s.ctx.Done():
			return
		}
	}
}

// validatePace checks that raft accepts the leader's paced timeouts too.
func validatePace(rc raft.Config) error {
	rc.HeartbeatTimeout, rc.ElectionTimeout = pacedTimeouts(rc.HeartbeatTimeout, rc.ElectionTimeout, true)
	return raft.ValidateConfig(&rc)
}
