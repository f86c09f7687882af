// Package hooks owns the member's event hooks: the commands it runs and the
// URL POSTs it makes when an ownership or failure event concerns it.
package hooks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/internal/ratelog"
)

// Hooks (the `hooks` member setting): commands this member runs, or HTTP
// POSTs it makes (post.go), when an ownership or failure event
// concerns it (hookSubject). They never sit on
// the safety path: events are only queued (hookQueueSize, a full queue
// drops the run, counted and logged), and one goroutine of their own runs
// the queue in order, each run bounded by its timeout, at which its whole
// process group is killed. No stop, start, fence, lease renewal or FSM
// apply waits for a hook.

// hookQueueSize bounds the runs waiting; past it a run is dropped.
const hookQueueSize = 64

// hookStopGrace is how long a hook still running when the member stops
// may go on before it is killed (a stopped hook of the hand-over gets a
// chance to finish).
const hookStopGrace = time.Second

// hookWaitDelay bounds the wait for a hook's output once it exited or
// was killed (a child that left the process group may hold the pipe).
const hookWaitDelay = time.Second

// hookOutputBytes bounds the output of a hook kept for the log.
const hookOutputBytes = 2 << 10

// Hook run results (the result label of raftha_hook_runs_total).
const (
	hookResultOK      = "ok"
	hookResultFailed  = "failed"
	hookResultTimeout = "timeout"
)

// hookJob is one run of one hook for one event.
type hookJob struct {
	hook *config.HookConfig
	ev   fsm.Event
}

// Deps is what the hooks take from the rest of the agent.
type Deps struct {
	// NodeID is this member's id (config.Config.NodeID).
	NodeID string
	// Hooks are the configured hooks (config.Config.Hooks).
	Hooks []config.HookConfig
	// FSM is the applied log, watched for events.
	FSM *fsm.FSM
	// Logger logs failed runs and dropped ones.
	Logger hclog.Logger
	// Registerer takes the hook metrics.
	Registerer prometheus.Registerer
}

// Runner queues and runs the configured hooks.
type Runner struct {
	nodeID string
	fsm    *fsm.FSM
	logger hclog.Logger
	hooks  []config.HookConfig
	queue  chan hookJob
	// ctx is the member's life, set by Start.
	ctx context.Context

	runs    *prometheus.CounterVec
	dropped *prometheus.CounterVec
	logs    ratelog.Limiter

	// from is the last log index this member had at start: events at or
	// below it are history replayed, not news, and run nothing.
	from uint64
	// seq is the last event sequence number looked at.
	seq uint64
	// runHook runs one job (tests replace it).
	runHook func(context.Context, hookJob) (string, error)
	// client makes the POSTs of URL hooks (post.go).
	client *http.Client
}

// New registers the hook metrics; nothing runs until Start.
func New(d Deps) (*Runner, error) {
	h := &Runner{nodeID: d.NodeID, fsm: d.FSM, logger: d.Logger, hooks: d.Hooks, queue: make(chan hookJob, hookQueueSize)}
	h.runHook = h.runJob
	h.client = newHookHTTPClient()
	h.runs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftha_hook_runs_total", Help: "Hook runs on this member, by hook and result (ok, failed, timeout)."}, []string{"hook", "result"})
	h.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftha_hook_dropped_total", Help: "Hook runs dropped because the hook queue was full, by hook."}, []string{"hook"})
	for _, c := range []prometheus.Collector{h.runs, h.dropped} {
		if err := d.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("Options.Registerer: %w (several servers on one registry: wrap it with prometheus.WrapRegistererWith)", err)
		}
	}
	return h, nil
}

// Start begins watching the log and running hooks, when any is
// configured, until ctx (the member's life) ends. The server's Start
// calls it once raft is open, with from the last log index present then
// (events at or below it are history) and goFn, which runs a goroutine
// the member waits for when it stops.
func (h *Runner) Start(ctx context.Context, from uint64, goFn func(func())) {
	if len(h.hooks) == 0 {
		return
	}
	h.ctx = ctx
	h.from = from
	h.checkTokenFiles()
	goFn(h.watch)
	goFn(h.work)
}

// hookSubject is the member that runs the hooks of an event from the
// log: the new owner of assigned and takeover, the owner asked to stop
// of stopping, the reporting owner of stopped, online and failed, the
// winner that fenced (or failed to fence) of fenced and fence-failed.
// self-fenced and self-fence-action run on the member that self-fenced,
// when it notes them (local), not from the log: it is cut off from the
// leader then. Other kinds run no hook ("").
func hookSubject(e fsm.Event) string {
	switch e.Kind {
	case fsm.KindAssigned, fsm.KindTakeover:
		return e.To
	case fsm.KindStopping:
		return e.From
	case fsm.KindStopped, fsm.KindOnline, fsm.KindFailed, fsm.KindFenced, fsm.KindFenceFailed:
		return e.Node
	}
	return ""
}

// watch queues the hooks of every new event of the log that concerns
// this member, as the log is applied here.
func (h *Runner) watch() {
	for {
		changed := h.fsm.Changed()
		for _, e := range h.newEvents() {
			if e.Index > h.from && hookSubject(e) == h.nodeID {
				h.enqueue(e)
			}
		}
		select {
		case <-h.ctx.Done():
			return
		case <-changed:
		}
	}
}

// newEvents copies the events recorded since the last call.
func (h *Runner) newEvents() []fsm.Event {
	var out []fsm.Event
	h.fsm.Read(func(st *fsm.State) {
		i := len(st.Events)
		for i > 0 && st.Events[i-1].Seq > h.seq {
			i--
		}
		out = append(out, st.Events[i:]...)
	})
	if len(out) > 0 {
		h.seq = out[len(out)-1].Seq
	}
	return out
}

// Note queues the hooks of a note this member records about itself
// (self-fenced, self-fence-action) at once, before it reaches the log.
// Other kinds run nothing here (they run from the log).
func (h *Runner) Note(n *fsm.Note) {
	if n.Kind != fsm.KindSelfFenced && n.Kind != fsm.KindSelfFenceAction {
		return
	}
	h.enqueue(fsm.Event{Kind: n.Kind, Group: n.Group, Node: n.Node, Epoch: n.Epoch, Reason: n.Reason, At: n.At, By: n.By})
}

// enqueue queues a run of every hook that takes e, without waiting: a
// full queue drops the run, counted and logged.
func (h *Runner) enqueue(e fsm.Event) {
	for i := range h.hooks {
		hk := &h.hooks[i]
		if !hookTakes(hk, e) {
			continue
		}
		select {
		case h.queue <- hookJob{hook: hk, ev: e}:
		default:
			h.dropped.WithLabelValues(hk.Name).Inc()
			h.logs.Log(h.logger, hclog.Warn, "drop:"+hk.Name, "hook queue full: run dropped", "hook", hk.Name, "event", e.Kind, "group", e.Group, "epoch", e.Epoch, "queue", hookQueueSize)
		}
	}
}

// hookTakes reports whether hk runs for e: its kind is one of hk's events
// and, when hk names groups, its group one of them.
func hookTakes(hk *config.HookConfig, e fsm.Event) bool {
	kind := false
	for _, k := range hk.Events {
		kind = kind || k == e.Kind
	}
	if !kind || len(hk.Groups) == 0 {
		return kind
	}
	for _, g := range hk.Groups {
		if g == e.Group {
			return true
		}
	}
	return false
}

// work runs the queued hooks one at a time, in order, until the member
// stops. A run under way when it stops gets hookStopGrace more.
func (h *Runner) work() {
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(h.ctx, func() { time.AfterFunc(hookStopGrace, cancel) })
	defer stop()
	defer h.client.CloseIdleConnections()
	for {
		select {
		case <-h.ctx.Done():
			return
		case j := <-h.queue:
			h.run(base, j)
		}
	}
}

// run runs one job and counts and logs its result.
func (h *Runner) run(base context.Context, j hookJob) {
	start := time.Now()
	out, err := h.runHook(base, j)
	took := time.Since(start).Round(time.Millisecond)
	result := hookResultOK
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		result = hookResultTimeout
	case err != nil:
		result = hookResultFailed
	}
	h.runs.WithLabelValues(j.hook.Name, result).Inc()
	args := []any{"hook", j.hook.Name, "event", j.ev.Kind, "group", j.ev.Group, "epoch", j.ev.Epoch, "took", took}
	if err == nil {
		h.logger.Debug("hook ran", args...)
		return
	}
	args = append(args, "result", result, "error", err, "output", out)
	h.logs.Log(h.logger, hclog.Warn, "fail:"+j.hook.Name, "hook failed", args...)
}

// hookEnv is the environment of a hook run: the agent's, then the event.
func (h *Runner) hookEnv(j hookJob) []string {
	e := j.ev
	return append(os.Environ(),
		"RAFTHA_HOOK="+j.hook.Name,
		"RAFTHA_EVENT="+string(e.Kind),
		"RAFTHA_GROUP="+e.Group,
		"RAFTHA_NODE="+h.nodeID,
		"RAFTHA_EPOCH="+strconv.FormatUint(e.Epoch, 10),
		"RAFTHA_CAUSE="+string(e.Cause),
		"RAFTHA_REASON="+e.Reason,
		"RAFTHA_FROM="+e.From,
		"RAFTHA_TO="+e.To,
		"RAFTHA_SEQ="+strconv.FormatUint(e.Seq, 10),
	)
}

// runJob runs one job: a POST for a URL hook, else the command.
func (h *Runner) runJob(base context.Context, j hookJob) (string, error) {
	if j.hook.URL != "" {
		return h.runPost(base, j)
	}
	return h.runCommand(base, j)
}

// runCommand runs the hook's command in a process group of its own, killing
// the group at the hook's timeout (the error then wraps
// context.DeadlineExceeded), and when the command returns, so that the
// hook leaves nothing running. It returns the end of its output.
func (h *Runner) runCommand(base context.Context, j hookJob) (string, error) {
	ctx, cancel := context.WithTimeout(base, j.hook.Timeout.D())
	defer cancel()
	argv := j.hook.Command
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = h.hookEnv(j)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = hookWaitDelay
	out := &tailBuffer{max: hookOutputBytes}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if ctx.Err() != nil && err != nil {
		err = context.Cause(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = &hookTimeoutError{after: j.hook.Timeout.D()}
		}
	}
	return out.String(), err
}

// hookTimeoutError is a hook killed (or, post, its POST abandoned) at its
// timeout.
type hookTimeoutError struct {
	after time.Duration
	post  bool
}

func (e *hookTimeoutError) Error() string {
	if e.post {
		return "POST abandoned after its timeout " + e.after.String()
	}
	return "killed (with its process group) after its timeout " + e.after.String()
}

// Unwrap makes a timeout errors.Is context.DeadlineExceeded.
func (e *hookTimeoutError) Unwrap() error { return context.DeadlineExceeded }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
