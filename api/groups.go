package api

import (
	"fmt"
	"time"

	"github.com/raftha/raftha/fsm"
)

// DefaultTransferTimeout bounds a planned move when the caller sets none.
const DefaultTransferTimeout = 2 * time.Minute

// TransferRequest is the body of POST /v1/groups/{name}/transfer.
type TransferRequest struct {
	// To is the node to move the group to; required.
	To string `json:"to"`
	// Timeout is a Go duration; default 2m.
	Timeout string `json:"timeout,omitempty"`
}

// TransferInProgress is the 202 body of a transfer that was committed but
// did not finish within its timeout.
type TransferInProgress struct {
	// Error says that the move was committed and goes on.
	Error string `json:"error"`
	// Code is in_progress.
	Code Code `json:"code"`
	// Group is the group's status when the deadline ran out.
	Group GroupStatus `json:"group"`
}

// ApplyResult is the body returned by POST /v1/groups.
type ApplyResult struct {
	// Applied lists the names of the groups in the file, in file order;
	// all of them were committed.
	Applied []string `json:"applied"`
}

// FenceOverrideRequest is the body of POST /v1/groups/{name}/fence-override.
type FenceOverrideRequest struct {
	// AcceptRisk says why the operator accepts the risk that the node
	// being fenced (or whose stop failed) still runs the group; required.
	AcceptRisk string `json:"accept_risk"`
}

// MemberRequest is the body of POST /v1/members: the member to add.
type MemberRequest struct {
	// ID is the new member's id; required.
	ID string `json:"id"`
	// Address is the host:port of the member's mTLS (Raft and RPC) port;
	// required.
	Address string `json:"address"`
	// Role is node or witness.
	Role string `json:"role"`
	// InstanceID is the member's EC2 instance id, used to fence it;
	// optional.
	InstanceID string `json:"instance_id,omitempty"`
}

// OwnershipChange is one line of `raftha why`: an ownership change of a
// group reconstructed from the event history in the log.
type OwnershipChange struct {
	// At is when the change was committed.
	At time.Time `json:"at"`
	// From is the previous owner ("" when none).
	From string `json:"from"`
	// To is the new owner.
	To string `json:"to"`
	// Epoch is the new epoch (the Raft index of the change).
	Epoch uint64 `json:"epoch"`
	// Cause is planned, failback, shutdown, node-lost, failure,
	// stop-failed, placement, fence-target-idle, auto-retry (a group
	// that failed everywhere, placed again after retry_failed_after) or
	// standby (moved off a node put on standby).
	Cause fsm.Cause `json:"cause"`
	// Reason is the recorded explanation.
	Reason string `json:"reason,omitempty"`
	// By is who asked (an operator certificate, "leader", a member).
	By string `json:"by,omitempty"`
	// Fence is how the previous owner was fenced (aws-stop or lease-only;
	// "" when no fence was needed or none was recorded yet).
	Fence string `json:"fence,omitempty"`
	// FenceTook is how long the fence itself took, as a Go duration
	// string.
	FenceTook string `json:"fence_took,omitempty"`
	// FenceVerified says how the fenced instances were verified to be
	// the fenced node's.
	FenceVerified string `json:"fence_verified,omitempty"`
	// Override is an operator's fence override at this epoch: who
	// accepted the risk and why.
	Override string `json:"override,omitempty"`
	// FenceFailures is how many fence attempts failed at this epoch.
	FenceFailures int `json:"fence_failures,omitempty"`
	// StartRetries is how many times To retried a failed start at this
	// epoch (start-retry events), each after stopping what it started.
	StartRetries int `json:"start_retries,omitempty"`
	// StopTook is how long the previous owner took to stop (planned moves).
	StopTook Duration `json:"stop_took,omitempty"`
	// OnlineAfter is the time from the change to the group being online on
	// To.
	OnlineAfter Duration `json:"online_after,omitempty"`
	// Online is false when the group never came online at this epoch.
	Online bool `json:"online"`
	// Outcome is what happened at this epoch in the end (online, failed:
	// reason, superseded).
	Outcome string `json:"outcome,omitempty"`
	// Split splits the time of a takeover that came online (detection,
	// fence, start, overhead); nil for other changes or when the members
	// recorded no timing.
	Split *FailoverSplit `json:"split,omitempty"`
}

// String formats one change for a terminal.
func (c OwnershipChange) String() string {
	from := c.From
	if from == "" {
		from = "(none)"
	}
	s := fmt.Sprintf("%s  %s -> %s  epoch %d  cause %s", c.At.Local().Format("2006-01-02 15:04:05.000"), from, c.To, c.Epoch, c.Cause)
	if c.Fence != "" {
		s += "  fence " + c.Fence
		if c.FenceTook != "" {
			s += " (" + c.FenceTook + ")"
		}
	} else if c.Cause.NeedsFence() {
		s += "  fence pending"
	} else {
		s += "  no fence needed"
	}
	if c.FenceVerified != "" {
		s += "  [" + c.FenceVerified + "]"
	}
	if c.FenceFailures > 0 {
		s += fmt.Sprintf(" after %d failed attempt(s)", c.FenceFailures)
	}
	switch {
	case c.StartRetries == 1:
		s += "  after 1 start retry"
	case c.StartRetries > 1:
		s += fmt.Sprintf("  after %d start retries", c.StartRetries)
	}
	if c.StopTook > 0 {
		s += fmt.Sprintf("  stop %s", c.StopTook.D().Round(time.Millisecond))
	}
	if c.Online {
		s += fmt.Sprintf("  online after %s", c.OnlineAfter.D().Round(time.Millisecond))
	} else if c.Outcome != "" {
		s += "  " + c.Outcome
	} else {
		s += "  not online yet"
	}
	if c.By != "" {
		s += "  by " + c.By
	}
	if c.Override != "" {
		s += "  RISK ACCEPTED: " + c.Override
	}
	if c.Reason != "" {
		s += "  (" + c.Reason + ")"
	}
	return s
}
