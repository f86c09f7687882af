package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
)

func TestCheckDiskLock(t *testing.T) {
	aws := fsm.ClusterSettings{FencingMode: FencingAWSStop, Heartbeat: 300 * time.Millisecond, Lease: 1500 * time.Millisecond, StopDeadline: 5 * time.Second}
	lo := aws
	lo.FencingMode = FencingLeaseOnly // lease-only wait 6.9s
	def := resources.DiskLockLayout{LockDevice: "/dev/x1", IOTimeout: 2 * time.Second, LostAfter: 6 * time.Second}
	with := func(f func(*resources.DiskLockLayout)) resources.DiskLockLayout { l := def; f(&l); return l }
	cases := []struct {
		name     string
		cs       fsm.ClusterSettings
		l        resources.DiskLockLayout
		err      string
		warnings []string
	}{
		{"defaults fit", lo, def, "", nil},
		{"settle below 2 heartbeats + io", aws, with(func(l *resources.DiskLockLayout) { l.Settle = 2599 * time.Millisecond }), "lock_settle 2.599s is shorter than", nil},
		{"settle exactly the floor", aws, with(func(l *resources.DiskLockLayout) { l.Settle = 2600 * time.Millisecond }), "", nil},
		{"lost_after under two re-reads", aws, with(func(l *resources.DiskLockLayout) { l.LostAfter = 2500 * time.Millisecond }), "", []string{"fewer than two re-reads"}},
		{"lost_after past the lease-only wait", lo, with(func(l *resources.DiskLockLayout) { l.LostAfter = 7 * time.Second }), "", []string{"longer than the lease-only wait 6.9s"}},
		{"lost_after past the wait is fine with aws-stop", aws, with(func(l *resources.DiskLockLayout) { l.LostAfter = 7 * time.Second }), "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs, warns := CheckDiskLock(tc.cs, tc.l)
			switch {
			case tc.err == "" && len(errs) > 0:
				t.Errorf("errors %v", errs)
			case tc.err != "" && (len(errs) != 1 || !errors.Is(errs[0], ErrDiskLockLayout) || !strings.Contains(errs[0].Error(), tc.err)):
				t.Errorf("errors %v, want one ErrDiskLockLayout containing %q", errs, tc.err)
			}
			if len(warns) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %d", warns, len(tc.warnings))
			}
			for i, w := range tc.warnings {
				if !strings.Contains(warns[i], w) {
					t.Errorf("warning %q lacks %q", warns[i], w)
				}
			}
		})
	}
}
