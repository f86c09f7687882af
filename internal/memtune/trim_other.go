//go:build !linux

package memtune

import "runtime/debug"

// Trim returns the heap's free memory to the system; unmapping the
// executable's start-up pages is done on Linux only. It returns 0.
func Trim() (int64, error) {
	debug.FreeOSMemory()
	return 0, nil
}
