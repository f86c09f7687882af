// Package integration holds raftha's multi-process tests: real `raftha
// agent` processes (two nodes and a witness) on loopback, EC2 fencing
// against moto_server, and faults a process can suffer — SIGKILL of a
// host, SIGSTOP beyond the failover timeout, SIGSTOP beyond the lease.
// The in-process equivalents live in server/*_test.go; these prove the
// same safety with the shipped binary, its config files and its CLI.
//
// Run with: go test ./integration -count=1 -v (moto_server must be on PATH).
//
// The fault-injection suite (netns_*_test.go, TestFault*) runs the same
// binary Jepsen-style on a real network: one network namespace per member
// on a bridge (198.18.0.0/15 only), moto_server and an EC2 "hypervisor"
// front on the bridge, a loop device as the shared disk, and nemeses
// (host kill, partitions, pauses, no quorum, AWS errors, full restart,
// planned moves under load; and, in netns_res*_test.go, resource faults:
// a start that fails after its side effect or hangs, a stop that fails on
// a busy ext4 mount or hangs, an agent killed mid-start or restarted from
// a snapshot, each in aws-stop and lease-only fencing; and, in
// netns_disklock_test.go, lease-only fencing with the disk lock on a
// partitioned shared disk: a new owner paused and cut off in its start,
// an owner cut off alive) checked for mutual exclusion on the disk,
// fencing before takeover, AWS state, and acknowledged history. It needs
// root and skips otherwise; `make integration` runs one run per scenario,
// `make soak RUNS=N` N of them (RAFTHA_FAULT_RUNS). RAFTHA_FAULT_SEED
// replays a seed, RAFTHA_FAULT_FENCING=aws-stop|lease-only keeps one mode
// of the resource scenarios, RAFTHA_FAULT_LOGS=1 prints agent logs of passing runs, and the table of
// results goes to $RAFTHA_RESULTS_DIR/latest.txt (default
// integration/results/latest.txt).
//
// Both suites run on one harness (harness_*_test.go): one member type and
// one harness type holding the agents, their config writer, start, crash,
// pause, power-off, the CLI, status and waits, and the EC2 hypervisor.
// The loopback fixture (cluster, loopback_cluster_test.go) and the
// namespace fixture (fcluster, netns_cluster_test.go) embed it; the
// namespace parts are its settings and hooks. The recorder and the
// free-ports helper are shared with the other packages' tests from
// internal/testsupport.
package integration
