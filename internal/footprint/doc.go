// Package footprint holds the idle-footprint benchmark: three real agent
// processes (the configs `raftha demo --once --dir` leaves behind) left
// idle, and their RSS and CPU time read from /proc. It has no code of its
// own; see footprint_test.go and `make bench`.
package footprint
