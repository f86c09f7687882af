package footprint

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftha/raftha/internal/benchtable"
)

// Goals from the footprint issue: per idle minute, with the default
// timing profile.
const (
	goalNodeRSSMiB    = 30
	goalWitnessRSSMiB = 20
	goalCPUPerMin     = 0.2
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture raftha is built for (amd64, arm64).
const clockTicks = 100

// BenchmarkIdleFootprint starts n1, n2 and w1 as three `raftha agent`
// processes on the configs of `raftha demo --once --dir`, which leaves an
// applied group ("web", an exec resource serving HTTP) in their logs. After
// RAFTHA_IDLE_WARM (default 20s) it reads each process's utime+stime, waits
// RAFTHA_IDLE_SECONDS (default 60s) and reports CPU seconds per idle
// minute and VmRSS. RAFTHA_IDLE_TIMING=HEARTBEAT/LEASE/FAILOVER (e.g.
// 1s/3s/4s) runs the members on that timing instead of the default
// profile. It needs the binary: RAFTHA_BIN, default bin/raftha at
// the module root (make bench builds it).
func BenchmarkIdleFootprint(b *testing.B) {
	bin := os.Getenv("RAFTHA_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "bin", "raftha")
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		b.Skipf("no agent binary at %s (run make build, or set RAFTHA_BIN): %v", bin, err)
	}
	warm := envDuration(b, "RAFTHA_IDLE_WARM", 20*time.Second)
	idle := envDuration(b, "RAFTHA_IDLE_SECONDS", 60*time.Second)

	dir := b.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, "demo", "--once", "--dir", dir).CombinedOutput(); err != nil {
		b.Fatalf("raftha demo --once --dir %s: %v\n%s", dir, err, out)
	}

	members := []string{"n1", "n2", "w1"}
	label := ""
	if v := os.Getenv("RAFTHA_IDLE_TIMING"); v != "" {
		hb, lease, fo, err := benchtable.Timing(v)
		if err != nil {
			b.Fatalf("RAFTHA_IDLE_TIMING: %v", err)
		}
		for _, m := range members {
			setTiming(b, filepath.Join(dir, m+".yaml"), hb, lease, fo)
		}
		label = fmt.Sprintf(" (heartbeat %s, lease %s, failover_timeout %s)", hb, lease, fo)
	}
	procs := make([]*exec.Cmd, 0, len(members))
	b.Cleanup(func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			done := make(chan struct{})
			go func() { _ = p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = p.Process.Kill()
				<-done
			}
		}
	})
	for _, m := range members {
		logf, err := os.Create(filepath.Join(dir, "logs", m+"-agent.out"))
		if err != nil {
			b.Fatal(err)
		}
		defer logf.Close()
		p := exec.Command(bin, "agent", "--config", filepath.Join(dir, m+".yaml"))
		p.Stdout, p.Stderr = logf, logf
		if err := p.Start(); err != nil {
			b.Fatalf("start %s: %v", m, err)
		}
		procs = append(procs, p)
	}
	time.Sleep(warm)
	before := make([]float64, len(procs))
	for i, p := range procs {
		before[i] = cpuSeconds(b, p.Process.Pid)
	}
	time.Sleep(idle)
	for i, p := range procs {
		m := members[i]
		cpu := (cpuSeconds(b, p.Process.Pid) - before[i]) * float64(time.Minute) / float64(idle)
		rss := rssMiB(b, p.Process.Pid)
		goalRSS := goalNodeRSSMiB
		if strings.HasPrefix(m, "w") {
			goalRSS = goalWitnessRSSMiB
		}
		fmt.Printf("idle %s: cpu %.2f s/min rss %.1f MiB (warm-up %s, measured %s)%s\n", m, cpu, rss, warm, idle, label)
		cmd := "make bench (BenchmarkIdleFootprint, ./internal/footprint)"
		if label != "" {
			cmd = "RAFTHA_IDLE_TIMING=" + os.Getenv("RAFTHA_IDLE_TIMING") + " " + cmd
		}
		goalCPU, goalMem := fmt.Sprintf("<= %.1f s/min", goalCPUPerMin), fmt.Sprintf("<= %d MiB", goalRSS)
		if label != "" {
			goalCPU, goalMem = "- (the goal is the default profile's)", "-"
		}
		benchtable.Print(benchtable.Row{Figure: "idle CPU " + m + label, Value: fmt.Sprintf("%.2f s/min", cpu), Goal: goalCPU, Command: cmd})
		benchtable.Print(benchtable.Row{Figure: "RSS " + m + label, Value: fmt.Sprintf("%.1f MiB", rss), Goal: goalMem, Command: cmd})
		b.ReportMetric(cpu, m+"-cpu-s/min")
		b.ReportMetric(rss, m+"-rss-MiB")
	}
}

// setTiming rewrites the timing block of the member file at path, which
// `raftha demo --once --dir` wrote: one "  heartbeat:", "  lease:" and
// "  failover_timeout:" line each, or the benchmark fails.
func setTiming(b *testing.B, path string, hb, lease, fo time.Duration) {
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	for key, d := range map[string]time.Duration{"heartbeat": hb, "lease": lease, "failover_timeout": fo} {
		n := 0
		for i, l := range lines {
			if strings.HasPrefix(l, "  "+key+":") {
				lines[i], n = "  "+key+": "+d.String(), n+1
			}
		}
		if n != 1 {
			b.Fatalf("%s: %d lines set timing.%s, want 1 (has raftha demo's member file changed?)", path, n, key)
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		b.Fatal(err)
	}
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration such as 30s", name, v)
	}
	return d
}

// cpuSeconds is utime+stime of pid (fields 14 and 15 of /proc/PID/stat,
// counted after the command name, which may hold spaces).
func cpuSeconds(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("agent pid %d: %v", pid, err)
	}
	i := bytes.LastIndexByte(raw, ')')
	f := strings.Fields(string(raw[i+1:]))
	// After ")": state is field 3, so utime (14) is f[11], stime (15) f[12].
	if len(f) < 13 {
		b.Fatalf("/proc/%d/stat: %d fields", pid, len(f))
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return (u + s) / clockTicks
}

// rssMiB is VmRSS of pid in MiB.
func rssMiB(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("agent pid %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatalf("/proc/%d/status: VmRSS %q", pid, rest)
			}
			return kb / 1024
		}
	}
	b.Fatalf("/proc/%d/status has no VmRSS", pid)
	return 0
}
