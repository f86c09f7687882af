package benchtable

import (
	"bytes"
	"testing"
	"time"
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

func TestTiming(t *testing.T) {
	hb, lease, fo, err := Timing("1s/3s/4500ms")
	if err != nil || hb != time.Second || lease != 3*time.Second || fo != 4500*time.Millisecond {
		t.Fatalf("1s/3s/4500ms: %s %s %s %v", hb, lease, fo, err)
	}
	for _, bad := range []string{"", "1s/3s", "1s/3s/4s/5s", "1s/x/4s", "1s/0s/4s", "-1s/3s/4s"} {
		if _, _, _, err := Timing(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
