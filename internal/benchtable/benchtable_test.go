package benchtable

import (
	"bytes"
	"testing"
)

func TestRowRoundTrip(t *testing.T) {
	r := Row{Figure: "idle CPU n1", Value: "0.41 s/min", Goal: "<= 0.2 s/min", Command: "make bench | grep x"}
	var buf bytes.Buffer
	Fprint(&buf, r)
	got, ok := Parse("    " + buf.String())
	if !ok {
		t.Fatalf("Parse(%q) refused its own line", buf.String())
	}
	want := r
	want.Command = "make bench / grep x"
	if got != want {
		t.Fatalf("round trip: got %+v, want %+v", got, want)
	}
	if _, ok := Parse("failover default median=2s"); ok {
		t.Fatal("a line without the prefix parsed as a row")
	}
	if _, ok := Parse(Prefix + "a|b"); ok {
		t.Fatal("a line with two fields parsed as a row")
	}
	if got, _ := Parse(Row{Figure: "x"}.Line()); got.Goal != "-" || got.Command != "-" {
		t.Fatalf("empty fields: got %+v, want \"-\"", got)
	}
}
