package yamlstrict_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/config/yamlstrict"
)

// mergeBomb returns a small document whose merge keys (<<: [*a, *a, ...])
// expand to fan^levels mappings: the file of issue 12 at fan 9, levels
// 8. The anchors sit under "anchors", the last level under "bomb".
func mergeBomb(fan, levels int) string {
	var b strings.Builder
	b.WriteString("anchors:\n  a0: &a0 {id: x}\n")
	ref := func(i int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i), fan), ", ") + "]"
	}
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "  a%d: &a%d\n    <<: %s\n", i, i, ref(i-1))
	}
	fmt.Fprintf(&b, "bomb:\n  <<: %s\n", ref(levels-1))
	return b.String()
}

// decodeWithin runs decode in a goroutine and fails t when it has not
// returned after limit: a hang guard, not a timing assertion.
func decodeWithin(t *testing.T, limit time.Duration, decode func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- decode() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("decode still running after %v", limit)
		return nil
	}
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
	err := decodeWithin(t, 5*time.Second, func() error { return yamlstrict.DecodeStrict([]byte(src), &d) })
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
	err := decodeWithin(t, 5*time.Second, func() error { return yamlstrict.DecodeStrict([]byte(b.String()), &d) })
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
