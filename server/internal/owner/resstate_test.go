package owner

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/raftha/raftha/api"
)

// TestCutError: errors are cut at MaxResourceError bytes on a rune
// boundary; short ones are kept whole.
func TestCutError(t *testing.T) {
	if got := CutError("short"); got != "short" {
		t.Fatalf("CutError(short) = %q", got)
	}
	got := CutError(strings.Repeat("x", 1000))
	if len(got) > api.MaxResourceError || !strings.HasSuffix(got, "…") {
		t.Fatalf("cut to %d bytes: %q", len(got), got)
	}
	if e := errors.New(strings.Repeat("ü", 300)); !utf8.ValidString(CutError(e.Error())) {
		t.Fatal("cut inside a rune")
	}
}
