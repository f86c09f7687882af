package owner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/raftha/raftha/cloud"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// fenceBackoff is the delay before fencing attempt n (1-based) is retried.
func fenceBackoff(n int) time.Duration {
	d := 500 * time.Millisecond << min(n-1, 6)
	return min(d, 30*time.Second)
}

// fenceRetryUnavailable is the most a fence waits before it is tried
// again after a failure of the cloud's API to serve it
// (cloud.ErrUnavailable): such a try has spent its calls retrying
// already, and the API may answer again at any moment.
const fenceRetryUnavailable = 250 * time.Millisecond

// fenceRetryDelay is the delay before a fence that failed with err (its
// n-th failure in a row) is tried again: fenceBackoff, but at most
// fenceRetryUnavailable when the API did not serve it. Such a failure is
// never quick (its calls retried until their deadline), so the tries
// stay spaced by at least a call's deadline.
func fenceRetryDelay(n int, err error) time.Duration {
	if errors.Is(err, cloud.ErrUnavailable) {
		return min(fenceBackoff(n), fenceRetryUnavailable)
	}
	return fenceBackoff(n)
}

// selfFenceAction takes the configured hard action after a failed or hung
// self-fence stop. reboot and poweroff write b or o to the sysrq trigger
// (immediate, no sync: the point is to stop acting now).
func (s *agent) selfFenceAction(why string) {
	action := s.cfg.Fencing.SelfFenceAction
	s.logger.Error("self-fence: resources did not stop cleanly; taking the hard action", "action", action, "why", why)
	switch action {
	case config.SelfFenceReboot, config.SelfFencePoweroff:
		b := "b"
		if action == config.SelfFencePoweroff {
			b = "o"
		}
		if err := writeSysrq(s.cfg.Fencing.SysrqTrigger, b); err != nil {
			s.logger.Error("self-fence: sysrq trigger failed; exiting instead", "trigger", s.cfg.Fencing.SysrqTrigger, "error", err)
			s.host.Exit(70)
		}
	case config.SelfFenceExit:
		s.host.Exit(70)
	case config.SelfFenceNone:
		s.logger.Error("self-fence: self_fence_action none: resources may still be running on this node")
	}
}

func writeSysrq(path, b string) error {
	// Never create it: a mistyped path must fail (and fall back to exit),
	// not write a harmless file and carry on.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// errNoFencer is returned when aws-stop is configured but no fencer exists.
var errNoFencer = errors.New("no fencer configured")

// fenceNode runs the configured fencer against node (one instance id)
// and returns what the fencer verified, if it says.
func (s *agent) fenceNode(ctx context.Context, node fsm.Member) (string, error) {
	if s.fencer == nil {
		return "", fmt.Errorf("%w: %w", cloud.ErrFenceFailed, errNoFencer)
	}
	if node.InstanceID != "" && node.InstanceID == s.instance {
		return "", fmt.Errorf("%w: refusing to fence %s: its instance id %s is this node's own", cloud.ErrFenceFailed, node.ID, node.InstanceID)
	}
	if vf, ok := s.fencer.(cloud.VerifyingFencer); ok {
		return vf.FenceVerified(ctx, node)
	}
	return "", s.fencer.Fence(ctx, node)
}
