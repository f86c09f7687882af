package owner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// fence is the winner's duty before a takeover: make sure the previous
// owner cannot act, record that, and only then start (clause 4). Failure
// leaves the group offline in state fencing, with an event saying why,
// and is retried with backoff; nothing starts on a hope.
func (w *worker) fence(ctx context.Context, st *fsm.State, g *fsm.Group) {
	s := w.r.s
	gs := g.Status
	if w.fenceEpoch != gs.Epoch {
		w.fenceEpoch, w.fenceSeen, w.fenceTries, w.fenceNext = gs.Epoch, time.Now(), 0, time.Time{}
	}
	if time.Now().Before(w.fenceNext) {
		return
	}
	if err := timed(&w.steps(gs.Epoch).fenceConfirm, func() error { return s.confirm(ctx, w.name, gs.Epoch) }); err != nil {
		s.logLimit.Log(w.log, hclog.Info, "confirm-fence/"+w.name, "cannot confirm the takeover yet; not fencing", "epoch", gs.Epoch, "error", err)
		return
	}
	// Fence every instance the log recorded for the node since the
	// takeover was decided: the one it had then and any it reported
	// since. Never substitute the node's current (self-reported) id.
	target := fsm.Member{ID: gs.FenceNode}
	if m, ok := st.Members[gs.FenceNode]; ok {
		target.Address, target.API = m.Address, m.API
	}
	instances := gs.InstancesToFence()
	if len(instances) == 0 {
		instances = []string{""} // fenceNode says that no instance id is known
	}
	target.InstanceID = strings.Join(instances, ",")
	start := time.Now()
	var method fsm.FencingMode
	var verified string
	var fenced []string
	var poll bool
	switch s.cfg.Fencing.Mode {
	case config.FencingLeaseOnly:
		// The longer of the decision's wait and this node's own: a
		// leader's decision alone never shortens the lease-only wait.
		// The decision's wait comes from the cluster settings in the log;
		// the winner also computes its own from its configuration, less
		// what had passed when the leader decided, and waits the longer.
		own := max(0, s.cfg.LeaseOnlyWait()-gs.FenceSilence)
		if left := max(gs.FenceWait, own) - time.Since(w.fenceSeen); left > 0 {
			// Or until the lost owner acknowledges a poison pill
			// (pill.go), polled every heartbeat.
			if verified, poll = w.pillAck(ctx, g); verified == "" {
				s.logLimit.Log(w.log, hclog.Info, "lease-only-wait/"+w.name, "lease-only fencing: waiting for the lost owner's lease and self-fence to run out", "fence_node", gs.FenceNode, "left", left.Round(time.Millisecond))
				if poll {
					left = min(left, s.cfg.Timing.Heartbeat.D())
				}
				w.fenceNext = time.Now().Add(left)
				time.AfterFunc(left, w.poke)
				return
			}
		}
		method = fsm.FencingLeaseOnly
	default:
		w.fenceBegins(gs.Epoch, start)
		w.log.Warn("fencing the previous owner before takeover", "fence_node", target.ID, "instance", target.InstanceID, "epoch", gs.Epoch)
		var errs []error
		var proofs []string
		for _, id := range instances {
			t := target
			t.InstanceID = id
			// One fence per instance and takeover round, shared by the
			// groups it covers (fenceround.go): still after this takeover.
			proof, err := s.fenceShared(ctx, t, gs.Epoch, s.cfg.Fencing.StopTimeout.D()+2*s.cfg.AWS.CallTimeout.D())
			if err != nil {
				errs = append(errs, err)
			} else if proof != "" {
				proofs = append(proofs, proof)
			}
		}
		verified = strings.Join(proofs, "; ")
		if err := errors.Join(errs...); err != nil {
			s.metrics.Fences.WithLabelValues(string(config.FencingAWSStop), "failed").Inc()
			w.fenceTries++
			backoff := fenceRetryDelay(w.fenceTries, err)
			w.fenceNext = time.Now().Add(backoff)
			time.AfterFunc(backoff, w.poke)
			reason := fmt.Sprintf("fencing %s (instance %s) failed (attempt %d, next in %s): %v; the group stays offline until a fence succeeds", target.ID, dash0(target.InstanceID), w.fenceTries, backoff, err)
			w.log.Error("fence failed; group stays offline", "fence_node", target.ID, "attempt", w.fenceTries, "retry_in", backoff, "error", err)
			nctx, ncancel := context.WithTimeout(ctx, proposeTimeout)
			_, _ = s.commit(nctx, &fsm.Note{Header: s.host.Header(), Kind: fsm.KindFenceFailed, Group: w.name, Node: s.cfg.NodeID, Epoch: gs.Epoch, Reason: reason})
			ncancel()
			return
		}
		method, fenced = fsm.FencingAWSStop, gs.InstancesToFence()
	}
	s.metrics.Fences.WithLabelValues(string(method), "ok").Inc()
	if method == fsm.FencingLeaseOnly {
		s.metrics.FenceDuration.Observe(time.Since(w.fenceSeen).Seconds())
	} else {
		s.metrics.FenceDuration.Observe(time.Since(start).Seconds())
	}
	took := time.Since(start).Round(time.Millisecond)
	if method == fsm.FencingLeaseOnly {
		took = time.Since(w.fenceSeen).Round(time.Millisecond)
	}
	w.log.Warn("previous owner fenced", "fence_node", target.ID, "method", method, "took", took, "epoch", gs.Epoch, "verified", verified)
	rctx, cancel := context.WithTimeout(ctx, proposeTimeout)
	defer cancel()
	if err := w.commitFenced(rctx, &fsm.Fenced{Header: s.host.Header(), Group: w.name, Node: s.cfg.NodeID, Epoch: gs.Epoch, Method: method, Took: took.String(), Verified: verified, Instances: fenced}, took); err != nil {
		w.log.Warn("could not record the fence; will fence again", "error", err)
	}
}

func dash0(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
