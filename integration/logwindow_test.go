package integration

import (
	"os"
	"strings"
	"time"
)

// Log windows: a violation found in one agent's log usually has its cause
// in another's a moment before (a second stop still running on the old
// owner, a late mount), and the suite's output keeps only each log's
// tail. logAround prints, from every member's log, the runner's lines
// (resources included) from logBefore before a log line's time to
// logAfter after it, at most logWindowLines of them.
const (
	logBefore      = 2 * time.Second
	logAfter       = 500 * time.Millisecond
	logWindowLines = 80
)

// logStamp is the time an agent log line begins with (hclog's
// 2006-01-02T15:04:05.000Z07:00), if it begins with one.
func logStamp(line string) (time.Time, bool) {
	f, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	t, err := time.Parse("2006-01-02T15:04:05.000Z07:00", f)
	return t, err == nil
}

// logAround logs what every member's runner logged around line's time.
func (c *fcluster) logAround(line string) {
	c.t.Helper()
	at, ok := logStamp(line)
	if !ok {
		return
	}
	var out []string
	for _, m := range c.members {
		data, err := os.ReadFile(m.logFile)
		if err != nil {
			continue
		}
		out = append(out, windowOf(m.id, string(data), at.Add(-logBefore), at.Add(logAfter))...)
	}
	if len(out) > logWindowLines {
		out = append(out[:logWindowLines], "…")
	}
	c.t.Logf("runner lines of every member from %s before to %s after %s:\n%s", logBefore, logAfter, at.Format("15:04:05.000"), strings.Join(out, "\n"))
}

// windowOf returns log's runner lines stamped within [from, to], each
// prefixed with id.
func windowOf(id, log string, from, to time.Time) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		t, ok := logStamp(l)
		if !ok || t.Before(from) || t.After(to) || !strings.Contains(l, "raftha.runner") {
			continue
		}
		if len(l) > 300 {
			l = l[:300] + "…"
		}
		out = append(out, id+": "+l)
	}
	return out
}
