// Package ratelog rate-limits repeated log lines: the first of a key at
// once, then at most one per interval with the number suppressed.
package ratelog

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultEvery is how often a repeated log line may be written: the
// first at once, then at most one per DefaultEvery, with the number of
// lines suppressed in between.
const DefaultEvery = 10 * time.Second

// maxLimitedKeys bounds the keys a Limiter remembers; beyond it, keys
// quiet for ten intervals are forgotten.
const maxLimitedKeys = 4096

// Limiter rate-limits repeated log lines, per key (a message and what
// it is about, e.g. a group). A cut-off node retries some steps many times
// a second (confirming ownership, reporting, heartbeating): without it
// their warnings bury everything else. The zero value is ready to use.
type Limiter struct {
	// Every is the interval between two lines of one key; 0 means
	// DefaultEvery.
	Every time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu   sync.Mutex
	keys map[string]*limitedLine
}

type limitedLine struct {
	last       time.Time // when a line of the key was last written
	suppressed int       // lines not written since
}

// Allow reports whether a line of key may be written now and, if so, how
// many lines of key were suppressed since the last one written.
func (l *Limiter) Allow(key string) (ok bool, suppressed int) {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	every := l.Every
	if every <= 0 {
		every = DefaultEvery
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = map[string]*limitedLine{}
	}
	e, seen := l.keys[key]
	if seen && now.Sub(e.last) < every {
		e.suppressed++
		return false, 0
	}
	if !seen {
		if len(l.keys) >= maxLimitedKeys {
			for k, old := range l.keys {
				if now.Sub(old.last) >= 10*every {
					delete(l.keys, k)
				}
			}
		}
		e = &limitedLine{}
		l.keys[key] = e
	}
	suppressed, e.suppressed, e.last = e.suppressed, 0, now
	return true, suppressed
}

// Log writes msg at level through logger unless a line of key was written
// less than an interval ago; a line written after suppressed ones says how
// many with "suppressed".
func (l *Limiter) Log(logger hclog.Logger, level hclog.Level, key, msg string, args ...any) {
	ok, n := l.Allow(key)
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	logger.Log(level, msg, args...)
}
