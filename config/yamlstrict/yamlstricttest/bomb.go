package yamlstricttest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// MergeRefs returns the flow list "[*NAMEi, *NAMEi, ...]" of fan aliases
// of anchor NAMEi.
func MergeRefs(name string, i, fan int) string {
	return "[" + strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*%s%d, ", name, i), fan), ", ") + "]"
}

// MergeChain returns mapping entries, each line prefixed by indent, that
// anchor NAME0 (the flow mapping leaf) to NAME(levels-1) under keys of the
// same names, each merging fan aliases of the one before: NAMEi expands
// to fan^i copies of leaf. With MergeRefs(name, levels-1, fan) it makes
// the small files that took minutes of CPU before yamlstrict.MaxNodes
// (issue 12: 623 bytes at fan 9, levels 8).
func MergeChain(name, indent, leaf string, fan, levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s0: &%s0 %s\n", indent, name, name, leaf)
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "%s%s%d: &%s%d\n%s  <<: %s\n", indent, name, i, name, i, indent, MergeRefs(name, i-1, fan))
	}
	return b.String()
}

// Within runs fn in a goroutine and returns its result, failing t when
// fn has not returned after limit: a hang guard for the parsers' budget
// (a limit far above their worst case), not a timing assertion. what
// names the work in the failure.
func Within[T any](t testing.TB, limit time.Duration, what string, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- fn() }()
	select {
	case r := <-done:
		return r
	case <-time.After(limit):
		t.Fatalf("%s still running after %v", what, limit)
		var zero T
		return zero
	}
}
