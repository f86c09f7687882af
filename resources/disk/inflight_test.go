package disk

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A Start whose context ends while its mount(2) has not returned leaves
// the call running ("it may still complete, and Stop unmounts it"). Stop
// must not report the group stopped while that mount may still happen:
// the agent then acknowledges a poison pill (nothing runs here) and the
// winner mounts the volume too. Here the mount is issued late, as when
// its goroutine is scheduled late or blocks before it reaches the device.
func TestStopWaitsForMountInFlight(t *testing.T) {
	f := newFixture(t)
	r := f.build(t, Params{})
	issued := make(chan struct{})
	release := make(chan struct{})
	mountSyscall = func(src, target, fstype string, flags uintptr, data string) error {
		close(issued)
		<-release
		return unix.Mount(src, target, fstype, flags, data)
	}
	t.Cleanup(func() { mountSyscall = unix.Mount })
	sctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := r.Start(sctx, tok()); err == nil {
		t.Fatal("Start returned nil although its mount had not returned")
	} else {
		t.Logf("Start: %v", err)
	}
	<-issued
	stopCtx, scancel := context.WithTimeout(context.Background(), time.Second)
	defer scancel()
	go func() { time.Sleep(200 * time.Millisecond); close(release) }()
	stopErr := r.Stop(stopCtx, tok())
	time.Sleep(500 * time.Millisecond) // the late mount has returned by now
	if got := mountedAt(t, f.mnt); stopErr == nil && got != "" {
		t.Fatalf("Stop returned nil, then the mount of the earlier Start took effect: %s is mounted on %s", got, f.mnt)
	}
	if stopErr != nil {
		t.Logf("Stop: %v", stopErr)
		if err := r.Stop(context.Background(), tok()); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
		if got := mountedAt(t, f.mnt); got != "" {
			t.Fatalf("still mounted after a successful Stop: %s", got)
		}
	}
}
