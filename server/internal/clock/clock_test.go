package clock

import (
	"testing"
	"time"
)

func TestFakeTimerFiresOnlyWhenTheClockReachesIt(t *testing.T) {
	start := time.Unix(1000, 0)
	f := NewFake(start)
	tm := f.NewTimer(time.Second)
	if f.Pending() != 1 {
		t.Fatalf("pending %d, want 1", f.Pending())
	}
	f.Advance(999 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("timer fired before its time")
	default:
	}
	f.Advance(time.Millisecond)
	select {
	case at := <-tm.C():
		if !at.Equal(start.Add(time.Second)) {
			t.Fatalf("fired with %v, want %v", at, start.Add(time.Second))
		}
	default:
		t.Fatal("timer did not fire at its time")
	}
	if tm.Stop() {
		t.Fatal("Stop of a fired timer reported it pending")
	}
	if tm.Reset(time.Second) {
		t.Fatal("Reset of a fired timer reported it pending")
	}
	if !tm.Stop() {
		t.Fatal("Stop of a re-armed timer reported it not pending")
	}
	f.Advance(time.Hour)
	select {
	case <-tm.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	if f.NewTimer(0); f.Pending() != 0 {
		t.Fatalf("a timer of 0 is still pending: %d", f.Pending())
	}
}

func TestSystemTimerFires(t *testing.T) {
	tm := System{}.NewTimer(time.Millisecond)
	select {
	case <-tm.C():
	case <-time.After(10 * time.Second):
		t.Fatal("system timer did not fire within 10s")
	}
}

// A fire not yet received is dropped by Reset and Stop, as time.Timer's
// is since Go 1.23.
func TestFakeResetAndStopDropAnUnreceivedFire(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	tm := f.NewTimer(time.Second)
	f.Advance(time.Second) // fired; nobody received it
	tm.Reset(time.Second)
	select {
	case <-tm.C():
		t.Fatal("Reset kept a stale fire")
	default:
	}
	f.Advance(time.Second)
	tm.Stop()
	select {
	case <-tm.C():
		t.Fatal("Stop kept a stale fire")
	default:
	}
}

func TestNextBoundary(t *testing.T) {
	hb := 300 * time.Millisecond
	base := time.Unix(0, 0).Add(3_000_000 * hb) // a boundary
	for _, c := range []struct {
		into, want time.Duration
	}{
		{0, hb}, // on a boundary: the next one, never now
		{time.Nanosecond, hb - time.Nanosecond},
		{100 * time.Millisecond, 200 * time.Millisecond},
		{hb - time.Nanosecond, time.Nanosecond},
	} {
		if got := NextBoundary(base.Add(c.into), hb); got != c.want {
			t.Errorf("NextBoundary(boundary+%v, %v) = %v, want %v", c.into, hb, got, c.want)
		}
	}
	if got := NextBoundary(time.Unix(-1, 0), time.Second); got != time.Second {
		t.Errorf("before 1970, on a boundary: %v, want 1s", got)
	}
	if got := NextBoundary(time.Unix(0, -1), time.Second); got != time.Nanosecond {
		t.Errorf("1ns before 1970: %v, want 1ns", got)
	}
}
