package memtune

import (
	"os"
	"strings"
	"testing"
)

// exeRSS is the resident size of this test binary's own mappings.
func exeRSS(t *testing.T) int64 {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, m := range cleanMappings(raw, exe) {
		n += m.rss
	}
	return n
}

func TestTrimUnmapsTheExecutablesCleanPagesAndTheProcessRunsOn(t *testing.T) {
	before := exeRSS(t)
	if before == 0 {
		t.Fatal("no resident page of the executable before Trim")
	}
	n, err := Trim()
	if err != nil {
		t.Fatalf("Trim: %v", err)
	}
	after := exeRSS(t)
	t.Logf("executable resident: %d KiB before, %d KiB after; Trim reported %d KiB", before>>10, after>>10, n>>10)
	if n <= 0 || after >= before {
		t.Fatalf("Trim unmapped %d bytes; resident %d -> %d bytes, want fewer", n, before, after)
	}
	// Code and read-only data come back from the file: this runs code
	// and reads tables (unicode, strings) that Trim just unmapped.
	if got := strings.ToUpper("ünïcödé"); got != "ÜNÏCÖDÉ" {
		t.Fatalf("after Trim: %q", got)
	}
}

func TestCleanMappingsSkipsWritableAndCopiedOnWriteMappings(t *testing.T) {
	const exe = "/opt/raftha"
	smaps := `00400000-00500000 r-xp 00000000 08:01 12 /opt/raftha
Rss:                 800 kB
Anonymous:             0 kB
00500000-00600000 r--p 00100000 08:01 12 /opt/raftha
Rss:                 400 kB
Anonymous:             8 kB
00600000-00700000 rw-p 00200000 08:01 12 /opt/raftha
Rss:                  40 kB
Anonymous:            40 kB
00700000-00800000 r--p 00000000 08:01 13 /usr/lib/other.so
Rss:                  16 kB
Anonymous:             0 kB
00800000-00900000 rw-p 00000000 00:00 0
Rss:                 100 kB
Anonymous:           100 kB
`
	got := cleanMappings([]byte(smaps), exe)
	if len(got) != 1 || got[0].start != 0x400000 || got[0].end != 0x500000 || got[0].rss != 800<<10 {
		t.Fatalf("cleanMappings = %+v, want only the text mapping 0x400000-0x500000 (800 KiB)", got)
	}
}
