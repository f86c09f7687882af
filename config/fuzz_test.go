package config

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/config/yamlstrict/yamlstricttest"
)

// fuzzInputLimit is how long one input may take to parse: a hang guard
// for the decoder's budget (yamlstrict.MaxNodes), far above its worst.
const fuzzInputLimit = 10 * time.Second

// FuzzParseConfig: no member file, however malformed, makes ParseConfig
// panic or run longer than fuzzInputLimit; it returns a config or errors,
// never both or neither. The seeds run in plain go test; `make fuzz`
// explores.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(validConfigYAML))
	for _, p := range []string{"../deploy/node1.yaml", "../deploy/node2.yaml", "../deploy/witness.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(mergeBombConfig()))
	f.Add([]byte("node_id: &a n1\nrole: *a\nmembers: &m [{id: n1, <<: *m}]\n"))
	f.Add([]byte("timing: {<<: [{lease: 1s}, {lease: 2s}], heartbeat: 5ms}\n---\nx: 1\n"))
	f.Add([]byte("l0: &l0 [x, x, x, x]\nl1: &l1 [*l0, *l0, *l0, *l0]\nl2: [*l1, *l1, *l1, *l1]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		type result struct {
			c    *Config
			errs yamlstrict.ErrorList
		}
		r := yamlstricttest.Within(t, fuzzInputLimit, fmt.Sprintf("ParseConfig of %q", data[:min(len(data), 300)]), func() result {
			c, errs := ParseConfig(data)
			return result{c, errs}
		})
		if (r.c == nil) == (len(r.errs) == 0) {
			t.Fatalf("config %v with errors %v", r.c != nil, r.errs)
		}
		for _, e := range r.errs {
			if e == nil || e.Line < 0 || e.Msg == "" {
				t.Fatalf("malformed error %#v in %v", e, r.errs)
			}
		}
	})
}
