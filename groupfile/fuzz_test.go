package groupfile_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/config/yamlstrict/yamlstricttest"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources/builtin"
)

// fuzzInputLimit is how long one input may take to parse: a hang guard
// for the decoder's budget (yamlstrict.MaxNodes), far above its worst.
const fuzzInputLimit = 10 * time.Second

// FuzzParse: no group file, however malformed, makes Parse panic or run
// longer than fuzzInputLimit; a file it accepts has named groups with
// nodes and resources whose parameters are JSON. The seeds run in plain
// go test; `make fuzz` explores.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../deploy/groups.example.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(bombFile(1, 9, 8)))
	f.Add([]byte(bombFile(40, 3, 11)))
	f.Add([]byte("groups:\n  - name: g\n    nodes: [n1, n2]\n    resources:\n      - {name: a, type: exec, run: /bin/true, monitor: {interval: 1s}}\n"))
	f.Add([]byte("groups:\n  - &g {name: g, nodes: [n1], resources: [&r {name: a, type: exec, run: x}, *r]}\n  - <<: *g\n    name: h\n"))
	f.Add([]byte("groups: [{name: g, nodes: [n1], resources: [{name: a, type: ip, address: 10.0.0.1/24, <<: {interface: eth0}}]}]\n"))
	reg := builtin.Registry()
	f.Fuzz(func(t *testing.T, data []byte) {
		type result struct {
			specs []fsm.GroupSpec
			errs  yamlstrict.ErrorList
		}
		r := yamlstricttest.Within(t, fuzzInputLimit, fmt.Sprintf("Parse of %q", data[:min(len(data), 300)]), func() result {
			specs, _, errs := groupfile.Parse(data, reg)
			return result{specs, errs}
		})
		for _, e := range r.errs {
			if e == nil || e.Line < 0 || e.Msg == "" {
				t.Fatalf("malformed error %#v in %v", e, r.errs)
			}
		}
		if len(r.errs) > 0 {
			return
		}
		if len(r.specs) == 0 {
			t.Fatal("accepted a file without groups")
		}
		for _, g := range r.specs {
			if g.Name == "" || len(g.Nodes) == 0 {
				t.Fatalf("accepted group %+v", g)
			}
			for _, rs := range g.Resources {
				if rs.Name == "" || rs.Type == "" || !json.Valid(rs.Params) {
					t.Fatalf("accepted resource %+v", rs)
				}
			}
		}
	})
}
