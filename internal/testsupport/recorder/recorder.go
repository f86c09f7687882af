// Package recorder is test support shared by the in-process tests (server)
// and the multi-process suite (integration): a process that, while it
// runs as a group's resource, appends "node epoch unixnano" lines to a file,
// and the checks that no two nodes were ever acting at once. It is run as
// an exec resource (the test binary re-executed), so the file shows when
// each node was really acting, by the one clock of the machine.
package recorder

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Env names the variable that turns a test binary into a recorder: when it
// is set, the binary's TestMain calls Run with its value.
const Env = "RAFTHA_TEST_RECORDER"

// Run appends "node epoch unixnano" to path every 5ms until SIGTERM or
// SIGINT, taking node and epoch from RAFTHA_NODE and RAFTHA_EPOCH (the
// fencing token raftha passes to exec resources). It also appends
// "start|term PID NODE EPOCH NS" lines to path.life, which tell a recorder
// raftha stopped from one killed with its host. It exits the process.
func Run(path string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	node, epoch := os.Getenv("RAFTHA_NODE"), os.Getenv("RAFTHA_EPOCH")
	life := func(what string) {
		lf, err := os.OpenFile(path+".life", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return
		}
		fmt.Fprintf(lf, "%s %d %s %s %d\n", what, os.Getpid(), node, epoch, time.Now().UnixNano())
		lf.Close()
	}
	life("start")
	t := time.NewTicker(5 * time.Millisecond)
	for {
		fmt.Fprintf(f, "%s %s %d\n", node, epoch, time.Now().UnixNano())
		select {
		case <-sig:
			f.Close()
			life("term")
			os.Exit(0)
		case <-t.C:
		}
	}
}

// Record is one line of a recorder file.
type Record struct {
	// Node and Epoch say who was acting, At when.
	Node  string
	Epoch uint64
	At    time.Time
}

// ReadRecords parses a recorder file in file order, skipping a torn last
// line of a killed recorder. A missing file has no records.
func ReadRecords(file string) ([]Record, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if len(parts) != 3 {
			continue
		}
		ep, err1 := strconv.ParseUint(parts[1], 10, 64)
		ns, err2 := strconv.ParseInt(parts[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, Record{Node: parts[0], Epoch: ep, At: time.Unix(0, ns)})
	}
	return out, sc.Err()
}

// Interval is one node's acting period at one epoch.
type Interval struct {
	// Node and Epoch identify the acting owner.
	Node  string
	Epoch uint64
	// First and Last are its first and last record; N counts records.
	First, Last time.Time
	N           int
}

// Intervals groups records into per-(node, epoch) intervals sorted by
// start time.
func Intervals(recs []Record) []Interval {
	byKey := map[string]*Interval{}
	for _, r := range recs {
		key := r.Node + "/" + strconv.FormatUint(r.Epoch, 10)
		iv, ok := byKey[key]
		if !ok {
			iv = &Interval{Node: r.Node, Epoch: r.Epoch, First: r.At, Last: r.At}
			byKey[key] = iv
		}
		if r.At.Before(iv.First) {
			iv.First = r.At
		}
		if r.At.After(iv.Last) {
			iv.Last = r.At
		}
		iv.N++
	}
	out := make([]Interval, 0, len(byKey))
	for _, iv := range byKey {
		out = append(out, *iv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].First.Before(out[j].First) })
	return out
}

// CheckExclusive reports the first violation of mutual exclusion: two
// nodes' intervals that overlap, or an epoch lower than the one before it
// in time order.
func CheckExclusive(ivs []Interval) error {
	for i := range ivs {
		for j := i + 1; j < len(ivs); j++ {
			a, b := ivs[i], ivs[j]
			if a.Node != b.Node && !b.First.After(a.Last) {
				return fmt.Errorf("overlap: %s@%d active %s..%s and %s@%d from %s", a.Node, a.Epoch, a.First.Format("15:04:05.000"), a.Last.Format("15:04:05.000"), b.Node, b.Epoch, b.First.Format("15:04:05.000"))
			}
		}
		if i > 0 && ivs[i].Epoch < ivs[i-1].Epoch {
			return fmt.Errorf("epoch went down: %s@%d after %s@%d", ivs[i].Node, ivs[i].Epoch, ivs[i-1].Node, ivs[i-1].Epoch)
		}
	}
	return nil
}

// Describe formats intervals for a test log.
func Describe(ivs []Interval) string {
	var b strings.Builder
	for _, iv := range ivs {
		fmt.Fprintf(&b, "%s@%d %s..%s (%d) ", iv.Node, iv.Epoch, iv.First.Format("15:04:05.000"), iv.Last.Format("15:04:05.000"), iv.N)
	}
	return b.String()
}
