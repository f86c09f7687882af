package resources

import (
	"context"
	"strings"
	"testing"
	"time"
)

type nopResource struct{}

func (nopResource) Start(context.Context, Token) error { return nil }
func (nopResource) Stop(context.Context, Token) error  { return nil }
func (nopResource) Check(context.Context, Token) error { return nil }

func TestRegisterRefusesReservedKeys(t *testing.T) {
	type bad struct {
		Kind string `yaml:"type"`
	}
	type good struct {
		Record string `yaml:"record"`
	}
	build := func(any, Env) (Resource, error) { return nopResource{}, nil }
	r := NewRegistry()
	err := r.Register(Type{Name: "x.bad", NewParams: func() any { return &bad{} }, Build: build})
	if err == nil || !strings.Contains(err.Error(), `reserved key "type"`) {
		t.Fatalf("reserved key accepted: %v", err)
	}
	if err := r.Register(Type{Name: "x.good", NewParams: func() any { return &good{} }, Build: build}); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(Type{Name: "x.good", NewParams: func() any { return &good{} }, Build: build}); err == nil {
		t.Fatal("duplicate type name accepted")
	}
	if _, err := r.Lookup("x.none"); err == nil || !strings.Contains(err.Error(), "x.good") {
		t.Fatalf("lookup of an unknown type: %v", err)
	}
}

func TestDurationHelpers(t *testing.T) {
	if err := CheckDuration("timeout", "", "30s"); err != nil {
		t.Fatalf("empty: %v", err)
	}
	if err := CheckDuration("timeout", "5s", "30s"); err != nil {
		t.Fatalf("valid: %v", err)
	}
	for _, bad := range []string{"5", "-1s", "0s", "soon"} {
		err := CheckDuration("timeout", bad, "30s")
		if err == nil || err.Error() != `timeout: expected a positive duration like 30s, got "`+bad+`"` {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if d := DurationOr("", 7*time.Second); d != 7*time.Second {
		t.Fatalf("default: %s", d)
	}
	if d := DurationOr("250ms", time.Second); d != 250*time.Millisecond {
		t.Fatalf("set: %s", d)
	}
}

// TestStopTimeoutOr: an explicit stop_timeout wins; otherwise the type's
// timeout, capped by the cluster's stop_deadline when it is known.
func TestStopTimeoutOr(t *testing.T) {
	for _, tc := range []struct {
		stop              string
		timeout, deadline time.Duration
		want              time.Duration
	}{
		{"", 30 * time.Second, 10 * time.Second, 10 * time.Second},
		{"", 5 * time.Second, 10 * time.Second, 5 * time.Second},
		{"", 30 * time.Second, 0, 30 * time.Second},
		{"20s", 30 * time.Second, 10 * time.Second, 20 * time.Second},
		{"2s", 30 * time.Second, 10 * time.Second, 2 * time.Second},
	} {
		if got := StopTimeoutOr(tc.stop, tc.timeout, tc.deadline); got != tc.want {
			t.Errorf("StopTimeoutOr(%q, %s, %s) = %s, want %s", tc.stop, tc.timeout, tc.deadline, got, tc.want)
		}
	}
}

// TestRegistryTypesInRegistrationOrder: Types lists the types in the order
// they were registered (not sorted, unlike Names); a refused registration
// is not listed.
func TestRegistryTypesInRegistrationOrder(t *testing.T) {
	r := NewRegistry()
	for _, n := range []string{"zeta", "alpha", "mid", "alpha"} {
		_ = r.Register(Type{Name: n, NewParams: func() any { return &struct{}{} }, Build: func(any, Env) (Resource, error) { return nopResource{}, nil }})
	}
	var got []string
	for _, typ := range r.Types() {
		got = append(got, typ.Name)
	}
	if strings.Join(got, ",") != "zeta,alpha,mid" {
		t.Fatalf("Types() = %v, want zeta, alpha, mid", got)
	}
}
