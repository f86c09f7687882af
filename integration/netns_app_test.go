package integration

// The fault suite's application and its log. The group's exec resource
// runs this test binary with RAFTHA_FI_APP set (TestMain dispatches to
// runFaultApp): while it runs it appends "node epoch seq monotonic_ns"
// every 5ms to a log file on the shared disk, and serves HTTP on its
// node's namespace address, answering who it is and at which epoch. The
// order in which the disk saw the lines is the ground truth of the mutual
// exclusion check.

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// fiAppMaxLife bounds an application process that nobody stops.
const fiAppMaxLife = 30 * time.Minute

func runFaultApp() {
	node, epoch := os.Getenv("RAFTHA_NODE"), os.Getenv("RAFTHA_EPOCH")
	logPath, lifePath := os.Getenv("RAFTHA_FI_LOG"), os.Getenv("RAFTHA_FI_LIFE")
	addr := ""
	for _, kv := range strings.Split(os.Getenv("RAFTHA_FI_ADDRS"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == node {
			addr = v
		}
	}
	life := func(what string) {
		lf, err := os.OpenFile(lifePath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return
		}
		fmt.Fprintf(lf, "%s %d %s %s %d\n", what, os.Getpid(), node, epoch, monoNow())
		lf.Close()
	}
	if addr == "" || logPath == "" {
		fmt.Fprintf(os.Stderr, "fault app: no address for node %q or no log\n", node)
		life("noaddr")
		os.Exit(2)
	}
	var ln net.Listener
	var err error
	for i := 0; i < 40; i++ {
		if ln, err = net.Listen("tcp", net.JoinHostPort(addr, os.Getenv("RAFTHA_FI_PORT"))); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fault app: %v\n", err)
		life("bindfail")
		os.Exit(1)
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fault app: %v\n", err)
		life("openfail")
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	life("start")
	var seq atomic.Uint64
	write := func() {
		// One write(2) per line, O_APPEND: the disk orders them.
		line := fmt.Sprintf("%s %s %d %d\n", node, epoch, seq.Load(), monoNow())
		if _, err := f.WriteString(line); err != nil {
			life("writefail")
			os.Exit(1)
		}
		seq.Add(1)
	}
	write() // an answer implies the disk already saw this writer
	srv := &http.Server{ReadHeaderTimeout: 2 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"node":%q,"epoch":%s,"seq":%d,"pid":%d}`, node, epoch, seq.Load(), os.Getpid())
	})}
	go func() { _ = srv.Serve(ln) }()
	tick := time.NewTicker(5 * time.Millisecond)
	end := time.After(fiAppMaxLife)
	for {
		select {
		case <-sig:
			ln.Close()
			f.Close()
			life("term")
			os.Exit(0)
		case <-end:
			life("maxlife")
			os.Exit(3)
		case <-tick.C:
			write()
		}
	}
}

// logLine is one line of the application log.
type logLine struct {
	node  string
	epoch uint64
	seq   uint64
	mono  int64
}

// block is a maximal run of consecutive lines with one (node, epoch).
type block struct {
	node        string
	epoch       uint64
	first, last int64 // mono
	n           int
	line        int // first line number
}

func (b block) key() string { return b.node + "@" + strconv.FormatUint(b.epoch, 10) }

func readAppLog(path string) ([]logLine, int, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, 0, nil
		}
		return nil, 0, err
	}
	defer f.Close()
	var out []logLine
	bad := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Fields(sc.Text())
		if len(p) != 4 {
			bad++
			continue
		}
		ep, e1 := strconv.ParseUint(p[1], 10, 64)
		sq, e2 := strconv.ParseUint(p[2], 10, 64)
		ns, e3 := strconv.ParseInt(p[3], 10, 64)
		if e1 != nil || e2 != nil || e3 != nil {
			bad++
			continue
		}
		out = append(out, logLine{node: p[0], epoch: ep, seq: sq, mono: ns})
	}
	return out, bad, sc.Err()
}

func blocksOf(lines []logLine) []block {
	var out []block
	for i, l := range lines {
		if n := len(out); n > 0 && out[n-1].node == l.node && out[n-1].epoch == l.epoch {
			b := &out[n-1]
			b.n++
			if l.mono > b.last {
				b.last = l.mono
			}
			continue
		}
		out = append(out, block{node: l.node, epoch: l.epoch, first: l.mono, last: l.mono, n: 1, line: i + 1})
	}
	return out
}

// checkLog is the mutual-exclusion checker on the order the disk saw:
// (node, epoch) blocks never interleave (a key never reappears after
// another), never overlap in time, epochs never go down, two nodes never
// write at one epoch, and each writer's sequence numbers run 0, 1, 2, …
// (a jump means a second writer of the same key, or a lost line).
func checkLog(lines []logLine) (v []string) {
	perKind := map[string]int{}
	more := 0
	add := func(format string, args ...any) {
		kind, _, _ := strings.Cut(format, ":")
		kind, _, _ = strings.Cut(kind, " %")
		if perKind[kind]++; perKind[kind] > 3 {
			more++
			return
		}
		v = append(v, fmt.Sprintf(format, args...))
	}
	defer func() {
		if more > 0 {
			v = append(v, fmt.Sprintf("… and %d more of the same kinds", more))
		}
	}()
	bs := blocksOf(lines)
	seen := map[string]int{}
	for i, b := range bs {
		if j, ok := seen[b.key()]; ok {
			add("interleaving: %s writes again at line %d after %s (its block %d ended before)", b.key(), b.line, bs[i-1].key(), j)
		}
		seen[b.key()] = i
		if i == 0 {
			continue
		}
		p := bs[i-1]
		if b.epoch < p.epoch {
			add("epoch went down on disk: %s at line %d after %s", b.key(), b.line, p.key())
		}
		if b.epoch == p.epoch && b.node != p.node {
			add("two nodes wrote at epoch %d: %s then %s at line %d", b.epoch, p.node, b.node, b.line)
		}
		if b.first <= p.last {
			add("overlap in time: %s wrote until %d but %s wrote from %d (line %d): %.1fms of concurrent writers", p.key(), p.last, b.key(), b.first, b.line, float64(p.last-b.first)/1e6)
		}
	}
	// Sequence numbers per key.
	next := map[string]uint64{}
	for i, l := range lines {
		k := l.node + "@" + strconv.FormatUint(l.epoch, 10)
		want, ok := next[k]
		if l.seq != 0 && (!ok || l.seq != want) {
			add("line %d: %s seq %d, expected %d: a second writer with the same node and epoch, or a lost line", i+1, k, l.seq, want)
		}
		next[k] = l.seq + 1
	}
	return v
}

func describeBlocks(bs []block, t0 int64) string {
	var b strings.Builder
	for _, x := range bs {
		fmt.Fprintf(&b, "%s[+%.3f..+%.3fs n=%d] ", x.key(), float64(x.first-t0)/1e9, float64(x.last-t0)/1e9, x.n)
	}
	return b.String()
}
