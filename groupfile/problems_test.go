package groupfile

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/raftha/raftha/resources"
)

// probeParams are the parameters of a type whose Validate joins two
// problems, one with a message of several lines.
type probeParams struct {
	Command string `yaml:"command" json:"command"`
}

func (p *probeParams) Validate() error {
	return errors.Join(
		errors.New("queue: required"),
		errors.Join(fmt.Errorf("command: %q exited 2:\nusage: probe URL\n  -v  verbose", p.Command)),
	)
}

type nopProbe struct{}

func (nopProbe) Start(context.Context, resources.Token) error { return nil }
func (nopProbe) Stop(context.Context, resources.Token) error  { return nil }
func (nopProbe) Check(context.Context, resources.Token) error { return nil }

// TestValidateProblemsAreTheJoinedErrors: each problem a type's Validate
// joins (errors.Join, nested or not) is one error of the group file, on
// the resource's line; a problem whose message spans lines is not cut
// into several.
func TestValidateProblemsAreTheJoinedErrors(t *testing.T) {
	reg := resources.NewRegistry()
	if err := reg.Register(resources.Type{Name: "acme.probe", NewParams: func() any { return &probeParams{} },
		Build: func(any, resources.Env) (resources.Resource, error) { return nopProbe{}, nil }}); err != nil {
		t.Fatal(err)
	}
	_, _, errs := Parse([]byte("groups:\n  - name: a\n    nodes: [n1]\n    resources:\n      - name: p\n        type: acme.probe\n        command: probe\n"), reg)
	var got []string
	for _, e := range errs {
		got = append(got, fmt.Sprintf("%d %s: %s", e.Line, e.Path, e.Msg))
	}
	want := []string{
		"5 groups[0].resources[0]: queue: required",
		"5 groups[0].resources[0]: command: \"probe\" exited 2:\nusage: probe URL\n  -v  verbose",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("errors\n%q\nwant\n%q", got, want)
	}
}
