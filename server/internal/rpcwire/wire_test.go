package rpcwire

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

var (
	errA = errors.New("a")
	errB = fmt.Errorf("b: %w", errA) // more specific than errA
)

func TestCodecRoundTrip(t *testing.T) {
	c := NewCodec(Entry{Code: "b", Err: errB}, Entry{Code: "a", Err: errA}, Entry{Code: "timeout", Err: context.DeadlineExceeded})
	for _, tc := range []struct {
		err   error
		codes []Code
		is    []error
	}{
		{fmt.Errorf("x: %w", errB), []Code{"b", "a"}, []error{errB, errA}},
		{fmt.Errorf("x: %w", errA), []Code{"a"}, []error{errA}},
		{fmt.Errorf("%w: %w", errA, context.DeadlineExceeded), []Code{"a", "timeout"}, []error{errA, context.DeadlineExceeded}},
		{errors.New("plain"), nil, nil},
	} {
		e := c.Encode(tc.err)
		if fmt.Sprint(e.Codes) != fmt.Sprint(tc.codes) || e.Msg != tc.err.Error() {
			t.Errorf("Encode(%v) = %+v, want codes %v", tc.err, e, tc.codes)
		}
		got := c.Decode(e)
		if got.Error() != tc.err.Error() {
			t.Errorf("Decode: message %q, want %q", got, tc.err)
		}
		for _, s := range tc.is {
			if !errors.Is(got, s) {
				t.Errorf("Decode(%v): errors.Is(%v) is false", tc.err, s)
			}
		}
		if len(tc.codes) > 0 && c.Code(got) != tc.codes[0] {
			t.Errorf("Code of the decoded error = %q, want %q", c.Code(got), tc.codes[0])
		}
	}
	if c.Encode(nil) != nil || c.Decode(nil) != nil {
		t.Error("nil does not round-trip as nil")
	}
	// A code this side does not know (a newer peer) matches nothing.
	if got := c.Decode(&Error{Codes: []Code{"new"}, Msg: "m"}); errors.Is(got, errA) || got.Error() != "m" {
		t.Errorf("unknown code decoded to %v", got)
	}
}

func TestNewCodecRefusesDuplicates(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("duplicate code accepted")
		}
	}()
	NewCodec(Entry{Code: "a", Err: errA}, Entry{Code: "a", Err: errB})
}
