package memtune

import (
	"runtime/debug"
	"testing"

	"github.com/raftha/raftha/config"
)

// gcPercent reads the current GOGC without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestTuneSetsTheWitnessTargetOnlyWhenTheEnvironmentSetsNone(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	cases := []struct {
		name string
		role config.Role
		env  map[string]string
		want int // GOGC after Tune
	}{
		{"witness, no env", config.RoleWitness, nil, WitnessGCPercent},
		{"witness, GOGC set", config.RoleWitness, map[string]string{"GOGC": "100"}, 100},
		{"witness, GOMEMLIMIT set", config.RoleWitness, map[string]string{"GOMEMLIMIT": "64MiB"}, 100},
		{"node, no env", config.RoleNode, nil, 100},
	}
	for _, c := range cases {
		debug.SetGCPercent(100)
		got := Tune(c.role, env(c.env))
		if p := gcPercent(); p != c.want {
			t.Errorf("%s: GOGC %d after Tune (%+v), want %d", c.name, p, got, c.want)
		}
		if (got.Percent != 0) != (c.want != 100) {
			t.Errorf("%s: Tune reported %+v", c.name, got)
		}
	}
}
