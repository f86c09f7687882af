package owner

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/server/internal/clock"
)

// TestWatchdogFedOnlyWhileFeedAllows: on a fake clock, a plain-file
// watchdog gets one write per heartbeat while Feed (lease valid, cleanup
// done) says so and none while it does not; a stop while starving leaves
// the device armed (no magic close), a stop while fed disarms it.
func TestWatchdogFedOnlyWhileFeedAllows(t *testing.T) {
	for _, starveAtEnd := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "watchdog")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		var feed atomic.Bool
		feed.Store(true)
		fc := clock.NewFake(t0)
		wd, err := OpenWatchdog(WatchdogOptions{Path: path, Timeout: 10 * time.Second, Check: func(time.Duration) error { return nil },
			Heartbeat: testHB, Feed: feed.Load, Clock: fc, Logger: hclog.NewNullLogger()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); wd.Run(ctx) }()
		written := func() string {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		waitFor(t, "the watchdog loop to arm", func() bool { return fc.Pending() == 1 })
		for i := 1; i <= 3; i++ {
			fc.Advance(testHB)
			waitFor(t, "a write per heartbeat", func() bool { return len(written()) == i && fc.Pending() == 1 })
		}
		feed.Store(false)
		for range 3 {
			advance(t, fc, testHB, 1)
		}
		if got := written(); got != "..." {
			t.Fatalf("written %q while Feed was false, want no more than the three writes before", got)
		}
		feed.Store(!starveAtEnd)
		advance(t, fc, testHB, 1)
		cancel()
		<-done
		want := "....V" // fed once more, then disarmed by the magic close
		if starveAtEnd {
			want = "..." // starving: stays armed, the device resets the host
		}
		if got := written(); got != want {
			t.Fatalf("starving at stop %v: written %q, want %q", starveAtEnd, got, want)
		}
	}
}
