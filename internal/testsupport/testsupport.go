// Package testsupport holds the helpers the tests of every package share:
// free loopback ports here, and the recorder process with its
// mutual-exclusion checks in the recorder subpackage. Production code never
// imports it.
package testsupport

import (
	"bytes"
	"sync"
	"testing"
	"time"

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

// Eventually lets the goroutines under test run until cond holds, polling
// every millisecond, and fails the test after 5 s of real time (a broken
// build): for tests on a fake clock, where nothing waits for real time.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	end := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			tb.Fatalf("timed out (5s real time) waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (a logger that
// goroutines under test write to) and readers (the test).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
