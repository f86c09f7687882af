package owner

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/config"
)

// TestSelfFenceActionHardActions: the hard action of a self-fence whose
// stop failed or hung (clauses 3 and 8): reboot and poweroff write b and
// o to the sysrq trigger; a trigger that cannot be written (never
// created) falls back to exit 70; exit exits 70; none does nothing.
func TestSelfFenceActionHardActions(t *testing.T) {
	dir := t.TempDir()
	trigger := filepath.Join(dir, "sysrq-trigger")
	for _, tc := range []struct {
		action  config.SelfFenceAction
		trigger string
		write   string
		exits   []int
	}{
		{config.SelfFenceReboot, trigger, "b", nil},
		{config.SelfFencePoweroff, trigger, "o", nil},
		{config.SelfFenceReboot, filepath.Join(dir, "missing"), "", []int{70}},
		{config.SelfFenceExit, trigger, "", []int{70}},
		{config.SelfFenceNone, trigger, "", nil},
	} {
		if err := os.WriteFile(trigger, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		h := &fakeHost{}
		s := &agent{host: h, logger: hclog.NewNullLogger()}
		s.cfg.Fencing.SelfFenceAction, s.cfg.Fencing.SysrqTrigger = tc.action, tc.trigger
		s.selfFenceAction("test")
		b, err := os.ReadFile(trigger)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.write || !slices.Equal(h.exits, tc.exits) {
			t.Fatalf("%s via %s: wrote %q and exited %v, want %q and %v", tc.action, tc.trigger, b, h.exits, tc.write, tc.exits)
		}
		if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
			t.Fatal("the hard action created a missing sysrq trigger")
		}
	}
}
