package resources

import (
	"context"
	"strings"
	"testing"
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
