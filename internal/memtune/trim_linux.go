package memtune

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Trim drops this process's page table entries for the read-only,
// unmodified mappings of its own executable (text, rodata, pclntab), then
// returns the heap's free memory to the system (debug.FreeOSMemory).
//
// The 50 MB static binary's package initialisers (AWS SDK endpoint
// tables, prometheus, the CLI) and the agent's start-up touch about 20 MiB
// of it, which stays in RSS although the idle agent runs a small part of
// it again. MADV_DONTNEED on a private file mapping only unmaps: the pages
// stay in the page cache, and the next access maps them again from the
// unchanged file (a minor fault, about a microsecond). A mapping holding
// any page copied on write (Anonymous above 0 in smaps, as a PIE's
// relocated data would) is skipped, so no change made in memory is lost.
// It returns the bytes unmapped.
func Trim() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("memtune: %w", err)
	}
	raw, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("memtune: %w", err)
	}
	var total int64
	for _, m := range cleanMappings(raw, exe) {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); errno != 0 {
			return total, fmt.Errorf("memtune: madvise %#x-%#x: %w", m.start, m.end, errno)
		}
		total += m.rss
	}
	debug.FreeOSMemory()
	return total, nil
}

type mapping struct {
	start, end uintptr
	rss        int64
}

// cleanMappings lists the mappings of path in smaps that are not writable
// and hold no anonymous (copied-on-write) page.
func cleanMappings(smaps []byte, path string) []mapping {
	var out []mapping
	var cur *mapping
	var anon int64
	flush := func() {
		if cur != nil && anon == 0 {
			out = append(out, *cur)
		}
		cur, anon = nil, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if addr, ok := strings.CutSuffix(f[0], ":"); ok && !strings.Contains(addr, "-") {
			if cur == nil || len(f) < 2 {
				continue
			}
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			switch addr {
			case "Rss":
				cur.rss = kb << 10
			case "Anonymous":
				anon = kb
			}
			continue
		}
		flush()
		// "start-end perms offset dev inode path"
		if len(f) < 6 || f[5] != path || strings.Contains(f[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		s, err1 := strconv.ParseUint(lo, 16, 64)
		e, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || e <= s {
			continue
		}
		cur = &mapping{start: uintptr(s), end: uintptr(e)}
	}
	flush()
	return out
}
