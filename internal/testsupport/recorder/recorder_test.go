package recorder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckExclusive(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rec")
	lines := "n1 5 1000\nn1 5 2000\nn2 9 3000\nn2 9 4000\ntorn"
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadRecords(file)
	if err != nil || len(recs) != 4 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	ivs := Intervals(recs)
	if len(ivs) != 2 || ivs[0].Node != "n1" || ivs[0].N != 2 || ivs[1].Epoch != 9 {
		t.Fatalf("intervals %s", Describe(ivs))
	}
	if err := CheckExclusive(ivs); err != nil {
		t.Fatal(err)
	}
	// n1 writes again after n2 started: overlap.
	bad := Intervals(append(recs, Record{Node: "n1", Epoch: 5, At: recs[3].At.Add(1)}))
	if err := CheckExclusive(bad); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Fatalf("overlap not caught: %v", err)
	}
	// A later interval with a lower epoch.
	down := []Interval{{Node: "n1", Epoch: 9, First: recs[0].At, Last: recs[0].At}, {Node: "n1", Epoch: 5, First: recs[1].At, Last: recs[1].At}}
	if err := CheckExclusive(down); err == nil || !strings.Contains(err.Error(), "epoch went down") {
		t.Fatalf("epoch order not caught: %v", err)
	}
}

func TestReadLife(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rec")
	if evs, err := ReadLife(file); err != nil || evs != nil {
		t.Fatalf("missing life file: %v, %v", evs, err)
	}
	data := "start 41 n1 5 1000\nterm 41 n1 5 2000\ntorn 4"
	if err := os.WriteFile(file+".life", []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	evs, err := ReadLife(file)
	if err != nil || len(evs) != 2 {
		t.Fatalf("%d life lines, %v", len(evs), err)
	}
	if e := evs[1]; e.What != "term" || e.PID != 41 || e.Node != "n1" || e.Epoch != 5 || e.At.UnixNano() != 2000 {
		t.Fatalf("second line %+v", e)
	}
	if d := DescribeLife(evs); !strings.Contains(d, "term pid=41 n1@5") {
		t.Fatalf("DescribeLife = %q", d)
	}
}

func TestGroupRunsThisBinary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	g := Group(t, "/tmp/rec", "    failback: true\n", "n2", "n1")
	for _, want := range []string{"nodes: [n2, n1]", "    failback: true\n    resources:", self, Env + ": /tmp/rec"} {
		if !strings.Contains(g, want) {
			t.Fatalf("group lacks %q:\n%s", want, g)
		}
	}
}
