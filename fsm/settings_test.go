package fsm

import (
	"errors"
	"testing"
	"time"
)

// TestClusterSettingsSeedOnceThenChangeExplicitly: a seed applies only
// while no settings are recorded; an explicit change replaces them and
// records who did it; both survive an encode/decode round trip and Clone.
func TestClusterSettingsSeedOnceThenChangeExplicitly(t *testing.T) {
	s, idx := seeded(t)
	lo := ClusterSettings{FencingMode: "lease-only", Heartbeat: 100 * time.Millisecond, Lease: 600 * time.Millisecond, StopDeadline: time.Second}
	aws := lo
	aws.FencingMode = "aws-stop"
	apply := func(c Command) Result {
		idx++
		b := MustEncode(c)
		d, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return s.Apply(idx, d)
	}
	if r := apply(&SetClusterSettings{Header: h(), Settings: lo, Seed: true}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := apply(&SetClusterSettings{Header: h(), Settings: aws, Seed: true}); !errors.Is(r.Err, ErrBusy) {
		t.Fatalf("second seed: %v, want ErrBusy", r.Err)
	}
	if *s.Settings != lo {
		t.Fatalf("settings %s after a refused seed", s.Settings)
	}
	if r := apply(&SetClusterSettings{Header: Header{At: t0, By: "cert:alice"}, Settings: aws}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := apply(&SetClusterSettings{Header: h(), Settings: ClusterSettings{FencingMode: "lease-only"}}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("zero timings: %v, want ErrInvalid", r.Err)
	}
	c := s.Clone()
	s.Settings.Lease = time.Hour
	if *c.Settings != aws {
		t.Fatalf("clone %s shares the settings", c.Settings)
	}
	last := s.Events[len(s.Events)-1]
	if last.Kind != "settings-changed" || last.By != "cert:alice" {
		t.Fatalf("last event %+v", last)
	}
}
