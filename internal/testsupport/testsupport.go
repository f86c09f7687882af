// Package testsupport holds the helpers the tests of every package share:
// free loopback ports here, and the recorder process with its
// mutual-exclusion checks in the recorder subpackage. Production code never
// imports it.
package testsupport

import (
	"testing"

	"github.com/raftha/raftha/internal/freeport"
)

// FreePorts returns n distinct loopback ports that were free a moment ago,
// failing the test when the kernel gives none.
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports, err := freeport.Loopback(n)
	if err != nil {
		tb.Fatal(err)
	}
	return ports
}

// FreePort returns one loopback port that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	return FreePorts(tb, 1)[0]
}
