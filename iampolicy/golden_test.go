package iampolicy

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources/builtin"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden from the current ForNode")

// goldenInputs are the group files whose policies must not change: every
// example group file of the repository and testdata/mixed.yaml.
var goldenInputs = []string{
	"../deploy/groups.example.yaml",
	"../examples/embedded/groups.yaml",
	"../examples/postgres/groups.yaml",
	"../examples/postgres/groups-single-attach.yaml",
	"../examples/scenarios/a-route.yaml",
	"../examples/scenarios/b-eip.yaml",
	"../examples/scenarios/c-dns.yaml",
	"../examples/scenarios/d-ebs.yaml",
	"../examples/scenarios/e-outposts.yaml",
	"testdata/mixed.yaml",
}

// goldenScopes are the scopes each input is rendered with.
var goldenScopes = []struct {
	name  string
	scope Scope
}{
	{"tag", Scope{Region: "ap-northeast-1", Account: "123456789012", Cluster: "prod"}},
	{"ids", Scope{Region: "us-gov-west-1", Account: "123456789012", Instances: map[string]string{
		"n1": "i-0aaaaaaaaaaaaaaa1", "n2": "i-0bbbbbbbbbbbbbbb2", "n3": "i-0ccccccccccccccc3",
		"node1": "i-0aaaaaaaaaaaaaaa1", "node2": "i-0bbbbbbbbbbbbbbb2",
		"server01": "i-0aaaaaaaaaaaaaaa1", "server02": "i-0bbbbbbbbbbbbbbb2"}}},
	{"unscoped", Scope{Region: "cn-north-1", Instances: map[string]string{"n1": "i-0aaaaaaaaaaaaaaa1"}}},
}

// renderGolden is what `raftha iam-policy` prints for every fencing mode
// and scope of goldenScopes, the error (sentinel and message) included.
func renderGolden(t *testing.T, specs []fsm.GroupSpec) string {
	t.Helper()
	var b strings.Builder
	for _, mode := range []config.FencingMode{config.FencingAWSStop, config.FencingLeaseOnly} {
		for _, sc := range goldenScopes {
			fmt.Fprintf(&b, "## %s %s\n", mode, sc.name)
			pol, err := goldenForNode(specs, mode, sc.scope)
			switch {
			case errors.Is(err, ErrNoStatement):
				fmt.Fprintf(&b, "ErrNoStatement: %v\n", err)
			case errors.Is(err, ErrUnscoped):
				fmt.Fprintf(&b, "ErrUnscoped: %v\n", err)
			case err != nil:
				t.Fatalf("%s %s: %v", mode, sc.name, err)
			default:
				out, err := json.MarshalIndent(pol, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				b.Write(out)
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

// TestForNodeGolden: the policy of every example group file, for every
// fencing mode and scope, is byte for byte the one recorded in
// testdata/*.golden (recorded from the policy generator before each
// resource type declared its own actions).
func TestForNodeGolden(t *testing.T) {
	for _, in := range goldenInputs {
		name := strings.TrimSuffix(filepath.Base(filepath.Dir(in))+"-"+filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			specs := parseGroups(t, mustRead(t, in))
			got := renderGolden(t, specs)
			golden := filepath.Join("testdata", name+".golden")
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := mustRead(t, golden)
			if got != want {
				t.Errorf("policy of %s changed:\n--- got\n%s\n--- want (%s)\n%s", in, got, golden, want)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goldenForNode is ForNode as the golden inputs use it.
func goldenForNode(specs []fsm.GroupSpec, mode config.FencingMode, scope Scope) (Policy, error) {
	return ForNode(builtin.Registry(), specs, mode, scope)
}
