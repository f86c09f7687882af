package disk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// holder is a process that keeps a mount busy.
type holder struct {
	PID  int
	Comm string
	Why  string // "cwd", "root", "fd 3 /mnt/x/file", "maps /mnt/x/lib.so"
}

// String formats h as "pid PID (COMM, WHY)".
func (h holder) String() string {
	return fmt.Sprintf("pid %d (%s, %s)", h.PID, h.Comm, h.Why)
}

func describeHolders(hs []holder) string {
	if len(hs) == 0 {
		return "no process found holding it (nested mounts, swap file, loop device, NFS export or kernel user?)"
	}
	const max = 10
	parts := make([]string, 0, max+1)
	for i, h := range hs {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(hs)-max))
			break
		}
		parts = append(parts, h.String())
	}
	return strings.Join(parts, ", ")
}

// procRoot is where processes are scanned (a variable for tests).
var procRoot = "/proc"

// findHolders scans /proc/*/{cwd,root,fd/*,maps} for paths under mp.
// Processes that exit during the scan are skipped.
func findHolders(mp string) []holder {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	var out []holder
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if why := holdsMount(pid, mp); why != "" {
			out = append(out, holder{PID: pid, Comm: comm(pid), Why: why})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// holdsMount returns why pid holds mp, or "" when it does not.
func holdsMount(pid int, mp string) string {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	for _, l := range []string{"cwd", "root"} {
		if t, err := os.Readlink(filepath.Join(dir, l)); err == nil && under(cleanProcPath(t), mp) {
			return l + " " + cleanProcPath(t)
		}
	}
	if fds, err := os.ReadDir(filepath.Join(dir, "fd")); err == nil {
		for _, fd := range fds {
			t, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
			if err == nil && under(cleanProcPath(t), mp) {
				return "fd " + fd.Name() + " " + cleanProcPath(t)
			}
		}
	}
	if f, err := os.Open(filepath.Join(dir, "maps")); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			// address perms offset dev inode pathname; the path may contain spaces.
			i := strings.IndexByte(line, '/')
			if i < 0 {
				continue
			}
			if p := cleanProcPath(line[i:]); under(p, mp) {
				return "maps " + p
			}
		}
	}
	return ""
}

func cleanProcPath(p string) string {
	return strings.TrimSuffix(p, " (deleted)")
}

func comm(pid int) string {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "comm"))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// signalHolder sends sig to pid if it still holds mp. It uses a pidfd so
// that a recycled pid is never signalled: the pidfd is opened first and
// the process is re-checked through it.
func signalHolder(pid int, mp string, sig unix.Signal) error {
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil // gone
		}
		if !errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("pidfd_open %d: %w", pid, err)
		}
		// Old kernel: plain kill after a re-check.
		if holdsMount(pid, mp) == "" {
			return nil
		}
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("kill %d: %w", pid, err)
		}
		return nil
	}
	defer unix.Close(pfd)
	if holdsMount(pid, mp) == "" {
		return nil // exited (or pid reused by a process not holding mp)
	}
	if err := unix.PidfdSendSignal(pfd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal %d: %w", pid, err)
	}
	return nil
}

// killHolders terminates the processes holding mp: SIGTERM, then SIGKILL
// to those left after grace, then waits (bounded by ctx and 10s) for them
// to go. It never signals the calling process; it returns the holders it
// signalled.
func killHolders(ctx context.Context, mp string, grace time.Duration, logf func(format string, args ...any)) ([]holder, error) {
	self := os.Getpid()
	others := func() []holder {
		var out []holder
		for _, h := range findHolders(mp) {
			if h.PID != self {
				out = append(out, h)
			}
		}
		return out
	}
	victims := others()
	if len(victims) == 0 {
		return nil, nil
	}
	var errs []error
	for _, h := range victims {
		logf("force_unmount: SIGTERM to %s", h)
		if err := signalHolder(h.PID, mp, unix.SIGTERM); err != nil {
			errs = append(errs, err)
		}
	}
	if waitNoHolders(ctx, grace, others) {
		return victims, errors.Join(errs...)
	}
	for _, h := range others() {
		logf("force_unmount: SIGKILL to %s (still there after %s)", h, grace)
		if err := signalHolder(h.PID, mp, unix.SIGKILL); err != nil {
			errs = append(errs, err)
		}
	}
	if !waitNoHolders(ctx, 10*time.Second, others) {
		left := others()
		errs = append(errs, fmt.Errorf("processes still hold %s after SIGKILL: %s", mp, describeHolders(left)))
	}
	return victims, errors.Join(errs...)
}

// waitNoHolders polls until others() is empty, for at most d or ctx.
func waitNoHolders(ctx context.Context, d time.Duration, others func() []holder) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if len(others()) == 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return len(others()) == 0
		case <-tick.C:
		}
	}
}
