package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/internal/testsupport"
	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/resources/gohandler"
)

// probeEvent is one thing a probe handler did, by the test's one clock.
type probeEvent struct {
	node  string
	epoch uint64
	kind  string // start, cancel, return
	at    time.Time
	cause error
}

// handlerProbe is an OwnerFunc factory shared by every member of a test
// cluster: it counts the handlers running across nodes and records when
// each started, saw its context cancelled and returned.
type handlerProbe struct {
	t         testing.TB
	active    atomic.Int32
	maxActive atomic.Int32

	mu     sync.Mutex
	events []probeEvent
	// failFirst makes the first call on each node return at once.
	failFirst bool
	// linger is how long a handler takes to return after its context is
	// cancelled (a service finishing its in-flight work).
	linger time.Duration
	calls  map[string]int
}

func newProbe(t testing.TB) *handlerProbe {
	return &handlerProbe{t: t, calls: map[string]int{}}
}

func (p *handlerProbe) record(e probeEvent) {
	e.at = time.Now()
	p.mu.Lock()
	p.events = append(p.events, e)
	p.mu.Unlock()
}

func (p *handlerProbe) fn(node string) OwnerFunc {
	return func(ctx context.Context, tok resources.Token) error {
		if tok.Node != node || tok.Group != "db" || tok.Resource != "writer" || tok.Epoch == 0 {
			p.t.Errorf("handler on %s got token %+v", node, tok)
		}
		p.mu.Lock()
		p.calls[node]++
		first := p.calls[node] == 1
		p.mu.Unlock()
		if p.failFirst && first {
			p.record(probeEvent{node: node, epoch: tok.Epoch, kind: "start"})
			p.record(probeEvent{node: node, epoch: tok.Epoch, kind: "return"})
			return errors.New("backend unavailable")
		}
		n := p.active.Add(1)
		for {
			m := p.maxActive.Load()
			if n <= m || p.maxActive.CompareAndSwap(m, n) {
				break
			}
		}
		p.record(probeEvent{node: node, epoch: tok.Epoch, kind: "start"})
		<-ctx.Done()
		p.record(probeEvent{node: node, epoch: tok.Epoch, kind: "cancel", cause: context.Cause(ctx)})
		time.Sleep(p.linger)
		p.active.Add(-1)
		p.record(probeEvent{node: node, epoch: tok.Epoch, kind: "return"})
		return ctx.Err()
	}
}

func (p *handlerProbe) snapshot() []probeEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]probeEvent(nil), p.events...)
}

// find returns the first event of kind on node at epoch (0: any epoch).
func (p *handlerProbe) find(node, kind string, epoch uint64) (probeEvent, bool) {
	for _, e := range p.snapshot() {
		if e.node == node && e.kind == kind && (epoch == 0 || e.epoch == epoch) {
			return e, true
		}
	}
	return probeEvent{}, false
}

func (p *handlerProbe) waitStart(node string, epoch uint64) probeEvent {
	p.t.Helper()
	var e probeEvent
	waitFor(p.t, 20*time.Second, fmt.Sprintf("handler started on %s at epoch %d", node, epoch), func() bool {
		var ok bool
		e, ok = p.find(node, "start", epoch)
		return ok
	})
	return e
}

func (p *handlerProbe) describe() string {
	var b strings.Builder
	var t0 time.Time
	for i, e := range p.snapshot() {
		if i == 0 {
			t0 = e.at
		}
		fmt.Fprintf(&b, "\n  +%6dms %s@%d %s", e.at.Sub(t0).Milliseconds(), e.node, e.epoch, e.kind)
		if e.cause != nil {
			fmt.Fprintf(&b, " (%v)", e.cause)
		}
	}
	return b.String()
}

// embedGroup runs the probe's handler as the group's only resource.
const embedGroup = `groups:
  - name: db
    nodes: [n1, n2]
    resources:
      - name: writer
        type: go
        handler: writer
        stop_timeout: 5s
        monitor:
          interval: 100ms
          failures_before_restart: 1
`

// embedCluster is n1, n2 and w1 in one process, each with the probe's
// handler registered through Options.Handlers, and the group online on n1
// with its handler running there.
func embedCluster(t *testing.T, p *handlerProbe) (*testCluster, fsm.Group) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) {
		m.opts.Handlers = map[string]OwnerFunc{"writer": p.fn(m.cfg.NodeID)}
		// lease-only takeovers wait lease + stop_deadline (default 10s)
		m.cfg.Fencing.StopDeadline = config.Duration(700 * time.Millisecond)
	})
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(embedGroup), "test"); err != nil {
		t.Fatalf("apply: %v", err)
	}
	g := c.waitOnline("db", "n1")
	p.waitStart("n1", g.Status.Epoch)
	return c, g
}

// TestEmbedHandlerRunsOnOneNodeAtATime moves the group back and forth
// while a sampler watches the number of handlers running across the three
// members: it never exceeds one, and every start follows the previous
// owner's return.
func TestEmbedHandlerRunsOnOneNodeAtATime(t *testing.T) {
	p := newProbe(t)
	c, g := embedCluster(t, p)

	stop := make(chan struct{})
	sampled := make(chan int32)
	go func() {
		var worst int32
		for {
			if n := p.active.Load(); n > worst {
				worst = n
			}
			select {
			case <-stop:
				sampled <- worst
				return
			default:
				time.Sleep(200 * time.Microsecond)
			}
		}
	}()

	epoch := g.Status.Epoch
	for i, to := range []string{"n2", "n1", "n2", "n1", "n2", "n1"} {
		via := c.members[i%2] // either node may be asked (a witness forwards no changes)
		gs, err := via.srv.Transfer(ctxT(t, 30*time.Second), "db", to, "test")
		if err != nil {
			t.Fatalf("transfer %d to %s via %s: %v%s", i, to, via.cfg.NodeID, err, p.describe())
		}
		if gs.Owner != to || gs.Epoch <= epoch {
			t.Fatalf("transfer %d: %+v (epoch before %d)", i, gs, epoch)
		}
		p.waitStart(to, gs.Epoch)
		epoch = gs.Epoch
	}
	close(stop)
	worst := <-sampled
	if worst > 1 || p.maxActive.Load() > 1 {
		t.Fatalf("handlers running at once: sampled %d, counted %d%s", worst, p.maxActive.Load(), p.describe())
	}
	// Each start comes after the previous run's return, and epochs rise.
	var last probeEvent
	starts := 0
	for _, e := range p.snapshot() {
		switch e.kind {
		case "start":
			if starts > 0 && (last.kind != "return" || e.epoch <= last.epoch) {
				t.Fatalf("start on %s@%d not preceded by the previous return:%s", e.node, e.epoch, p.describe())
			}
			starts++
		case "cancel":
			if !errors.Is(e.cause, ErrHandlerStopped) {
				t.Fatalf("planned move cancelled %s@%d with %v, want ErrHandlerStopped", e.node, e.epoch, e.cause)
			}
		}
		last = e
	}
	if starts != 7 {
		t.Fatalf("%d starts, want 7:%s", starts, p.describe())
	}
	t.Logf("history:%s", p.describe())
}

// TestEmbedHandlerCancelledBeforeTakeover cuts the owner off: its
// handler's context is cancelled by the lease watch (cause ErrLeaseLost),
// and it has returned, before the majority side's node starts its own.
func TestEmbedHandlerCancelledBeforeTakeover(t *testing.T) {
	p := newProbe(t)
	c, g := embedCluster(t, p)
	cut := time.Now()
	c.partition("n1")
	defer c.heal()
	started := p.waitStart("n2", 0)
	cancelled, ok := p.find("n1", "cancel", g.Status.Epoch)
	if !ok {
		t.Fatalf("n1's handler was never cancelled:%s", p.describe())
	}
	returned, _ := p.find("n1", "return", g.Status.Epoch)
	t.Logf("cut → n1 cancelled %s, returned %s; n2 started %s (epoch %d)", cancelled.at.Sub(cut).Round(time.Millisecond),
		returned.at.Sub(cut).Round(time.Millisecond), started.at.Sub(cut).Round(time.Millisecond), started.epoch)
	if !cancelled.at.Before(started.at) || returned.at.IsZero() || !returned.at.Before(started.at) {
		t.Fatalf("n1 still acting when n2 started:%s", p.describe())
	}
	if !errors.Is(cancelled.cause, ErrLeaseLost) {
		t.Fatalf("n1's handler cancelled with %v, want ErrLeaseLost (the lease watch, before the self-fence)", cancelled.cause)
	}
	// The lease cannot outlive what the leader confirmed: n1 stopped acting
	// within a lease (plus scheduling slack) of the cut.
	if lease := c.members[0].cfg.Timing.Lease.D(); cancelled.at.Sub(cut) > lease+300*time.Millisecond {
		t.Fatalf("n1 cancelled %s after the cut, lease is %s", cancelled.at.Sub(cut), lease)
	}
	if started.epoch <= g.Status.Epoch {
		t.Fatalf("n2 started at epoch %d, not above %d", started.epoch, g.Status.Epoch)
	}
	if p.maxActive.Load() > 1 {
		t.Fatalf("two handlers ran at once:%s", p.describe())
	}
}

// TestEmbedShutdownHandsOver: Shutdown of the owner moves the group as a
// planned move (stopping → stopped → assigned → online, no takeover), and
// its handler returned before the other node's started.
func TestEmbedShutdownHandsOver(t *testing.T) {
	p := newProbe(t)
	c, g := embedCluster(t, p)
	n1 := c.member("n1")
	if err := n1.srv.Shutdown(ctxT(t, 20*time.Second)); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	n1.srv = nil
	g2 := c.waitOnline("db", "n2")
	started := p.waitStart("n2", g2.Status.Epoch)
	returned, ok := p.find("n1", "return", g.Status.Epoch)
	if !ok || !returned.at.Before(started.at) {
		t.Fatalf("n1's handler had not returned when n2's started:%s", p.describe())
	}
	if cancelled, _ := p.find("n1", "cancel", g.Status.Epoch); !errors.Is(cancelled.cause, ErrHandlerStopped) {
		t.Fatalf("n1's handler cancelled with %v, want ErrHandlerStopped", cancelled.cause)
	}
	var hist []string
	for _, e := range c.events("db") {
		hist = append(hist, fmt.Sprintf("%s@%d", e.Kind, e.Epoch))
		if e.Kind == "takeover" || e.Kind == "fencing" || e.Kind == "fenced" {
			t.Fatalf("shutdown caused a %s, not a planned move: %v", e.Kind, hist)
		}
	}
	want := fmt.Sprintf("stopping@%d stopped@%d assigned@%d online@%d", g.Status.Epoch, g.Status.Epoch, g2.Status.Epoch, g2.Status.Epoch)
	if !strings.Contains(strings.Join(hist, " "), want) {
		t.Fatalf("history %v does not contain %q", hist, want)
	}
}

// TestHandlerReturnIsRestartedByTheMonitor: a handler that returns by
// itself fails its check, and the monitor restarts it on the same node.
func TestHandlerReturnIsRestartedByTheMonitor(t *testing.T) {
	p := newProbe(t)
	p.failFirst = true
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) {
		m.opts.Handlers = map[string]OwnerFunc{"writer": p.fn(m.cfg.NodeID)}
	})
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(embedGroup), "test"); err != nil {
		t.Fatal(err)
	}
	g := c.waitOnline("db", "n1")
	waitFor(t, 10*time.Second, "the handler called a second time on n1", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.calls["n1"] >= 2
	})
	if g2 := c.group("db"); g2.Status.Owner != "n1" || g2.Status.Epoch != g.Status.Epoch {
		t.Fatalf("group moved instead of restarting: %+v", g2.Status)
	}
	waitFor(t, 5*time.Second, "a resource-restart event", func() bool {
		for _, e := range c.events("db") {
			if e.Kind == "resource-restart" && strings.Contains(e.Reason, "backend unavailable") {
				return true
			}
		}
		return false
	})
}

// TestHandlerMissingOnANodeFailsThere: a node without the handler cannot
// start the group, says why, and the group runs on a node that has it.
func TestHandlerMissingOnANodeFailsThere(t *testing.T) {
	p := newProbe(t)
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) {
		if m.cfg.NodeID == "n1" {
			m.opts.Handlers = map[string]OwnerFunc{"reader": func(ctx context.Context, _ resources.Token) error { <-ctx.Done(); return nil }}
			return
		}
		m.opts.Handlers = map[string]OwnerFunc{"writer": p.fn(m.cfg.NodeID)}
	})
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(embedGroup), "test"); err != nil {
		t.Fatal(err)
	}
	g := c.waitOnline("db", "n2")
	p.waitStart("n2", g.Status.Epoch)
	found := false
	for _, e := range c.events("db") {
		found = found || strings.Contains(e.Reason, `no handler named "writer" registered; registered: reader`)
	}
	if !found {
		t.Fatalf("no event says the handler is missing on n1: %s", kinds(c.events("db")))
	}
}

// TestHandlerGroupFiles: the go type validates in group files everywhere
// (it is in DefaultRegistry), and refuses to build outside a server.
func TestHandlerGroupFiles(t *testing.T) {
	reg := DefaultRegistry()
	specs, _, errs := groupfile.Parse([]byte(embedGroup), reg)
	if len(errs) > 0 {
		t.Fatalf("valid file refused: %v", errs)
	}
	var p gohandler.Params
	if err := json.Unmarshal(specs[0].Resources[0].Params, &p); err != nil || p.Handler != "writer" || p.EffectiveStopTimeout() != 5*time.Second {
		t.Fatalf("params %s decoded to %+v (%v)", specs[0].Resources[0].Params, p, err)
	}
	for _, tc := range []struct{ res, want string }{
		{"        type: go\n", "handler: required"},
		{"        type: go\n        handler: w\n        run: /bin/true\n", `unknown key "run"`},
		{"        type: go\n        handler: w\n        stop_timeout: 0s\n", "stop_timeout: must be greater than 0"},
		{"        type: go\n        handler: w\n        stop_timeout: 10\n", "duration"},
	} {
		doc := "groups:\n  - name: db\n    nodes: [n1]\n    resources:\n      - name: writer\n" + tc.res
		_, _, errs := groupfile.Parse([]byte(doc), reg)
		if len(errs) == 0 || !strings.Contains(errs.Error(), tc.want) {
			t.Errorf("%q: errors %v, want %q", tc.res, errs, tc.want)
		}
	}
	if _, err := gohandler.Type.Build(&gohandler.Params{Handler: "w"}, resources.Env{}); err == nil || !strings.Contains(err.Error(), "embedded raftha server") {
		t.Fatalf("Build outside a server: %v", err)
	}

	// New adds the type to a custom registry, and refuses a foreign "go".
	c := newTestCluster(t, "n1")
	cfg := c.member("n1").cfg
	custom := resources.NewRegistry()
	if _, err := New(cfg, Options{Registry: custom, LogOutput: &testsupport.SyncBuffer{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := custom.Lookup(gohandler.TypeName); err != nil {
		t.Fatalf("New did not add the go type: %v", err)
	}
	foreign := resources.NewRegistry()
	_ = foreign.Register(resources.Type{Name: "go", NewParams: func() any { return &struct{}{} }, Build: gohandler.Type.Build})
	if _, err := New(cfg, Options{Registry: foreign, LogOutput: &testsupport.SyncBuffer{}}); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("foreign go type: %v", err)
	}
	if _, err := New(cfg, Options{Handlers: map[string]OwnerFunc{"x": nil}, LogOutput: &testsupport.SyncBuffer{}}); err == nil {
		t.Fatal("nil handler accepted")
	}
	srv, err := New(cfg, Options{Handlers: map[string]OwnerFunc{"a": func(context.Context, resources.Token) error { return nil }}, LogOutput: &testsupport.SyncBuffer{}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle("b", func(context.Context, resources.Token) error { return nil })
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("duplicate Handle did not panic")
			}
		}()
		srv.Handle("a", func(context.Context, resources.Token) error { return nil })
	}()
	if srv.Registry() == nil {
		t.Fatal("no registry")
	}
	_, err = buildGo(srv, `{"handler":"zzz"}`)
	if err == nil || err.Error() != `no handler named "zzz" registered; registered: a, b` {
		t.Fatalf("missing handler: %v", err)
	}
}
