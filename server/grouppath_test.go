package server

import (
	"errors"
	"testing"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/groupfile"
)

// TestGroupFileCheckErrorsKeepTheirLine: the problems the log's check of a
// group file finds (fsm.FieldError, not a message to split) are reported at
// the line of the field they name.
func TestGroupFileCheckErrorsKeepTheirLine(t *testing.T) {
	src := `groups:
  - name: db
    nodes:
      - n1
      - w1
      - n9
    resources:
      - name: app
        type: exec
        start: "true"
        stop: "true"
`
	specs, root, errs := groupfile.Parse([]byte(src), DefaultRegistry())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	st := fsm.NewState()
	for i, m := range []fsm.Member{{ID: "n1", Role: fsm.RoleNode, Address: "127.0.0.1:1"}, {ID: "w1", Role: fsm.RoleWitness, Address: "127.0.0.1:2"}} {
		if r := st.Apply(uint64(i+1), &fsm.UpsertMember{Member: m}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	verrs := st.ValidateGroups(specs)
	for _, e := range verrs {
		var fe *fsm.FieldError
		if !errors.As(e, &fe) || !errors.Is(e, fsm.ErrInvalid) {
			t.Fatalf("%v is not an fsm.FieldError wrapping ErrInvalid", e)
		}
	}
	got := groupfile.PathErrors(root, verrs)
	want := []yamlstrict.FieldError{
		{Line: 5, Path: "groups[0].nodes[1]", Msg: "w1 is a witness; only nodes may own groups"},
		{Line: 6, Path: "groups[0].nodes[2]", Msg: "n9 is not a member of the cluster"},
	}
	if len(got) != len(want) {
		t.Fatalf("errors %v, want %v", got, want)
	}
	for i := range want {
		if *got[i] != want[i] {
			t.Fatalf("error %d is %+v, want %+v", i, *got[i], want[i])
		}
	}
}
