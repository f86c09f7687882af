package exec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources"
)

// A group's env cannot set the variables raftha sets (other RAFTHA_*
// names stay the operator's): the group file is refused at the
// resource's line, and a group stored before the check was added (Build
// does not refuse it) still runs with raftha's own token.
func TestEnvCannotOverrideRafthaVariables(t *testing.T) {
	const src = `groups:
  - name: db
    nodes: [n1]
    resources:
      - name: app
        type: exec
        start: "true"
        env:
          RAFTHA_EPOCH: "999"
          RAFTHA_NODE: evil
          RAFTHA_TEST_RECORDER: /tmp/rec
`
	reg := resources.NewRegistry()
	if err := reg.Register(Type); err != nil {
		t.Fatal(err)
	}
	_, _, errs := groupfile.Parse([]byte(src), reg)
	err := errs.WithFile("groups.yaml")
	if err == nil {
		t.Fatal("a group file whose env sets RAFTHA_EPOCH was accepted")
	}
	var list yamlstrict.ErrorList
	if !errors.As(err, &list) || len(list) != 1 || list[0].Line != 5 || !strings.HasPrefix(err.Error(), "groups.yaml:5:") {
		t.Fatalf("want one error at groups.yaml:5, got: %v", err)
	}
	if p := (Params{Start: "true", Env: map[string]string{"RAFTHA_EPOCH": "1"}}); !errors.Is(p.Validate(), ErrReservedEnv) {
		t.Fatalf("Validate: %v, want ErrReservedEnv", p.Validate())
	}

	out := filepath.Join(t.TempDir(), "env")
	r := buildEnv(t, Params{Start: `echo "$RAFTHA_EPOCH $RAFTHA_NODE $RAFTHA_GROUP" > ` + out,
		Env: map[string]string{"RAFTHA_EPOCH": "999", "RAFTHA_NODE": "evil", "RAFTHA_GROUP": "other"}}, resources.Env{})
	if err := r.Start(context.Background(), resources.Token{Group: "db", Node: "n1", Epoch: 7, Resource: "app"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "7 n1 db" {
		t.Fatalf("the command saw %q, want raftha's token %q", got, "7 n1 db")
	}
}
