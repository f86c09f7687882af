package memtune

import (
	"runtime"
	"testing"

	"github.com/raftha/raftha/config"
)

func TestTuneProcsSetsOneForAWitnessOnlyWhenTheEnvironmentSetsNone(t *testing.T) {
	orig := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(orig) })
	const before = 3
	cases := []struct {
		name string
		role config.Role
		env  map[string]string
		want int
	}{
		{"witness, no env", config.RoleWitness, nil, WitnessProcs},
		{"witness, GOMAXPROCS set", config.RoleWitness, map[string]string{"GOMAXPROCS": "3"}, before},
		{"node, no env", config.RoleNode, nil, before},
	}
	for _, c := range cases {
		runtime.GOMAXPROCS(before)
		got := TuneProcs(c.role, func(k string) string { return c.env[k] })
		if n := runtime.GOMAXPROCS(0); n != c.want {
			t.Errorf("%s: GOMAXPROCS %d after TuneProcs (%+v), want %d", c.name, n, got, c.want)
		}
		if (got.N != 0) != (c.want != before) {
			t.Errorf("%s: TuneProcs reported %+v", c.name, got)
		}
	}
}
