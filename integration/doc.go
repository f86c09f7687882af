// Package integration holds raftha's multi-process tests: real `raftha
// agent` processes (two nodes and a witness) on loopback, EC2 fencing
// against moto_server, and faults a process can suffer — SIGKILL of a
// host, SIGSTOP beyond the failover timeout, SIGSTOP beyond the lease.
// The in-process equivalents live in server/*_test.go; these prove the
// same safety with the shipped binary, its config files and its CLI.
//
// Run with: go test ./integration -count=1 -v (moto_server must be on PATH).
package integration
