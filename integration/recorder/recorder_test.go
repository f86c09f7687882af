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
