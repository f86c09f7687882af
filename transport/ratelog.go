package transport

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// refusalLogInterval is the least time between two lines of the same
// refusal warning; the refusals in between are counted, not logged.
const refusalLogInterval = 10 * time.Second

// rateLog logs a warning the first time, then at most once per interval
// per message, with the number of occurrences it suppressed since the
// last line: a peer retrying a refused handshake in a loop must not fill
// the log. The zero value is ready to use.
type rateLog struct {
	mu       sync.Mutex
	interval time.Duration // 0: refusalLogInterval
	last     map[string]time.Time
	skipped  map[string]int
}

// warn logs msg with args through l, unless msg was logged less than an
// interval ago.
func (r *rateLog) warn(l hclog.Logger, msg string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	if r.last == nil {
		r.last, r.skipped = map[string]time.Time{}, map[string]int{}
	}
	every := r.interval
	if every <= 0 {
		every = refusalLogInterval
	}
	if t, ok := r.last[msg]; ok && now.Sub(t) < every {
		r.skipped[msg]++
		r.mu.Unlock()
		return
	}
	n := r.skipped[msg]
	r.last[msg], r.skipped[msg] = now, 0
	r.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n, "suppressed_over", every.String())
	}
	l.Warn(msg, args...)
}
