// Package yamlstricttest holds the test helper that compares a yamlstrict.ErrorList with the problems a test expects.
package yamlstricttest

import (
	"errors"
	"strings"
	"testing"

	"github.com/raftha/raftha/config/yamlstrict"
)

// WantErr is one expected FieldError: exact line and path, and a fragment
// of the message.
type WantErr struct {
	// Line is the exact line expected (0: none).
	Line int
	// Path is the exact path expected ("": none).
	Path string
	// Msg is a fragment the message must contain.
	Msg string
}

// CheckErrs fails t unless got holds exactly the problems in want, in
// order. W is WantErr or a test's own type defined from it (so the test
// can write unkeyed literals).
func CheckErrs[W ~struct {
	Line int
	Path string
	Msg  string
}](t *testing.T, got yamlstrict.ErrorList, want []W) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(got), len(want), got)
	}
	for i, ww := range want {
		g, w := got[i], WantErr(ww)
		if g.Line != w.Line || g.Path != w.Path || !strings.Contains(g.Msg, w.Msg) {
			t.Errorf("error %d = {line %d, path %q, msg %q}, want {line %d, path %q, msg containing %q}",
				i, g.Line, g.Path, g.Msg, w.Line, w.Path, w.Msg)
		}
	}
}

// AsErrorList returns the ErrorList inside err (nil for nil), failing t
// when err holds none.
func AsErrorList(t *testing.T, err error) yamlstrict.ErrorList {
	t.Helper()
	if err == nil {
		return nil
	}
	var l yamlstrict.ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("error %T is not an ErrorList: %v", err, err)
	}
	return l
}
