package yamlstrict_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/config/yamlstrict/yamlstricttest"
)

// mergeBomb returns a small document whose merge keys expand to
// fan^levels mappings: the anchors under "anchors", the last level
// under "bomb".
func mergeBomb(fan, levels int) string {
	return "anchors:\n" + yamlstricttest.MergeChain("a", "  ", "{id: x}", fan, levels) + "bomb:\n  <<: " + yamlstricttest.MergeRefs("a", levels-1, fan) + "\n"
}

// bombDoc accepts every key of mergeBomb.
type bombDoc struct {
	Anchors map[string]strictItem `yaml:"anchors"`
	Bomb    strictItem            `yaml:"bomb"`
}

// TestMergeKeyBombRefused: merge keys that multiply (issue 12: 80 s of CPU
// for 623 bytes) are refused with ErrTooComplex, naming the limit and the
// line, instead of being expanded.
func TestMergeKeyBombRefused(t *testing.T) {
	src := mergeBomb(9, 8)
	if len(src) > 700 {
		t.Fatalf("bomb is %d bytes", len(src))
	}
	var d bombDoc
	err := yamlstricttest.Within(t, 5*time.Second, "decode", func() error { return yamlstrict.DecodeStrict([]byte(src), &d) })
	if !errors.Is(err, yamlstrict.ErrTooComplex) {
		t.Fatalf("got %v, want ErrTooComplex\n%s", err, src)
	}
	var l yamlstrict.ErrorList
	if !errors.As(err, &l) || len(l) != 1 || l[0].Line == 0 || !strings.Contains(l[0].Msg, fmt.Sprint(yamlstrict.MaxNodes)) {
		t.Fatalf("want one error with a line naming the limit %d: %#v", yamlstrict.MaxNodes, l)
	}
	if fe := l.WithFile("g.yaml"); !errors.Is(fe, yamlstrict.ErrTooComplex) || !strings.HasPrefix(fe.Error(), fmt.Sprintf("g.yaml:%d: ", l[0].Line)) {
		t.Fatalf("with file: %v", fe)
	}
}

// TestSequenceAliasBombRefused: the classic "billion laughs" through
// aliases of lists into an interface value (decoded by yaml.v3) is
// refused the same way.
func TestSequenceAliasBombRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("l0: &l0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	var d map[string]any
	err := yamlstricttest.Within(t, 5*time.Second, "decode", func() error { return yamlstrict.DecodeStrict([]byte(b.String()), &d) })
	if !errors.Is(err, yamlstrict.ErrTooComplex) {
		t.Fatalf("got %v, want ErrTooComplex", err)
	}
}

// TestInputTooLarge: a document longer than MaxInputBytes is refused
// before it is parsed.
func TestInputTooLarge(t *testing.T) {
	src := "name: " + strings.Repeat("x", yamlstrict.MaxInputBytes) + "\n"
	var d strictDoc
	err := yamlstrict.DecodeStrict([]byte(src), &d)
	if !errors.Is(err, yamlstrict.ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprint(yamlstrict.MaxInputBytes)) {
		t.Fatalf("got %v, want ErrTooLarge naming the limit", err)
	}
}

// TestDecodeCancelled: a cancelled context stops the walk with the
// context's error.
func TestDecodeCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var d bombDoc
	src := "bomb: {id: a, port: 1}\n"
	_, errs := yamlstrict.NewBudget(ctx).Decode([]byte(src), &d)
	if !errors.Is(errs.Err(), context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", errs)
	}
}

// TestModestAnchorsStillWork: documents well inside the limits decode as
// before.
func TestModestAnchorsStillWork(t *testing.T) {
	var d bombDoc
	src := "anchors:\n  a0: &a0 {id: x}\n  a1: &a1\n    <<: [*a0, *a0]\nbomb:\n  <<: [*a1, *a1]\n  port: 3\n"
	if err := yamlstrict.DecodeStrict([]byte(src), &d); err != nil || d.Bomb != (strictItem{"x", 3}) {
		t.Fatalf("got %+v, %v", d.Bomb, err)
	}
}
