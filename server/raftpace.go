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
// every 60-120 ms (default profile) to every follower on top of the rounds
// each lease renewal's VerifyLeader sends, and those RPCs were about half
// of an idle member's CPU (docs/scale.md, "Idle footprint").
//
// With 2.5 the leader's own heartbeats go every timing.heartbeat/2 to
// timing.heartbeat, still at most half a follower's shortest election
// timeout (2 × heartbeat), which is unchanged: a follower notices a dead
// leader exactly as fast as before, so failover time does not move. Every
// lease renewal still verifies leadership with its own round (safety
// clause 5), so no confirmation waits on this pace.
const LeaderPaceFactor = 2.5

// pacedTimeouts are the heartbeat and election timeouts raft runs with:
// the follower's (timing-derived) values, or LeaderPaceFactor times them
// while leading.
func pacedTimeouts(heartbeat, election time.Duration, leading bool) (time.Duration, time.Duration) {
	if !leading {
		return heartbeat, election
	}
	return time.Duration(float64(heartbeat) * LeaderPaceFactor), time.Duration(float64(election) * LeaderPaceFactor)
}

// paceRaft forwards raft's leadership notifications from in to out, and
// before each one sets raft's timeouts for the new state: the leader's
// slower heartbeat pace on gaining leadership, the follower's election
// timeout back on losing it. It returns when in is closed or done ends.
//
// Only this goroutine reloads raft's configuration, so the read-modify-
// write below is not raced (raft.ReloadableConfig's caveat).
func (s *Server) paceRaft(in <-chan bool, out chan<- bool, heartbeat, election time.Duration) {
	for {
		select {
		case leading := <-in:
			rc := s.raft.ReloadableConfig()
			rc.HeartbeatTimeout, rc.ElectionTimeout = pacedTimeouts(heartbeat, election, leading)
			if err := s.raft.ReloadConfig(rc); err != nil {
				// Validated at start with the same values scaled: a
				// failure leaves raft at its previous (valid) pace.
				s.logger.Warn("could not set raft's heartbeat pace", "leading", leading, "error", err)
			}
			select {
			case out <- leading:
			case <-s.ctx.Done():
				return
			}
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
