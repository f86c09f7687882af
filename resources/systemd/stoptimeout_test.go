package systemd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/resources"
)

// TestStopBoundedByStopDeadline: a unit that stays deactivating is given
// min(timeout, stop_deadline) to settle, not the 90s timeout; with
// stop_timeout set, that bounds it instead.
func TestStopBoundedByStopDeadline(t *testing.T) {
	for _, tc := range []struct {
		p    Params
		env  resources.Env
		want time.Duration
	}{
		{Params{Timeout: "90s"}, resources.Env{StopDeadline: 300 * time.Millisecond}, 300 * time.Millisecond},
		{Params{}, resources.Env{StopDeadline: 300 * time.Millisecond}, 300 * time.Millisecond},
		{Params{Timeout: "90s", StopTimeout: "500ms"}, resources.Env{StopDeadline: 10 * time.Second}, 500 * time.Millisecond},
	} {
		f := newFake(t)
		tc.p.Unit, tc.p.Systemctl = "app.service", f.path
		tc.env.Logger = hclog.NewNullLogger()
		r, err := Type.Build(&tc.p, tc.env)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx(t), tok); err != nil {
			t.Fatal(err)
		}
		f.touch(t, "app.service", "deactivating")
		t0 := time.Now()
		err = r.Stop(ctx(t), tok)
		took := time.Since(t0)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still deactivating after "+tc.want.String()) {
			t.Fatalf("%+v, stop_deadline %s: stop of a unit that stays deactivating: %v, want still deactivating after %s", tc.p, tc.env.StopDeadline, err, tc.want)
		}
		if took > tc.want+time.Second {
			t.Fatalf("%+v, stop_deadline %s: stop took %s, want about %s", tc.p, tc.env.StopDeadline, took, tc.want)
		}
	}
}

func TestValidateStopTimeout(t *testing.T) {
	if err := (&Params{Unit: "a.service", StopTimeout: "soon"}).Validate(); err == nil || err.Error() != `stop_timeout: expected a positive duration like 10s, got "soon"` {
		t.Fatalf("bad stop_timeout: %v", err)
	}
	p := &Params{Unit: "a.service", Timeout: "5m", StopTimeout: "8s"}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := p.ExplicitStopTimeout(); d != 8*time.Second {
		t.Fatalf("explicit stop_timeout: %s", d)
	}
	if d := (&Params{Unit: "a.service", Timeout: "5m"}).ExplicitStopTimeout(); d != 0 {
		t.Fatalf("no stop_timeout: %s, want 0", d)
	}
}
