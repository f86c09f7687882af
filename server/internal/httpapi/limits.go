package httpapi

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/internal/ratelog"
)

// Limits bounds the HTTPS API's connections and how long each may
// take, so that no caller (authenticated or not) can hold the API, or the
// agent's descriptors, with idle or slow connections. A zero field takes
// its default (WithDefaults).
type Limits struct {
	// ReadHeaderTimeout bounds the TLS handshake and the reading of a
	// request's headers, hence also how long a connection that sends
	// nothing stays open.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the reading of a request's body, from the end
	// of its headers.
	ReadTimeout time.Duration
	// WriteTimeout bounds the writing of an answer, from its first byte:
	// a handler may work longer (a transfer waits for its move).
	WriteTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection may wait for its
	// next request. A refused (401) connection is closed at once.
	IdleTimeout time.Duration
	// MaxConns bounds the API's open connections; past it a new
	// connection is answered 503 with code overloaded and closed.
	MaxConns int
	// MaxConnsPerIP bounds the open connections from one client address,
	// the same way.
	MaxConnsPerIP int
}

// WithDefaults fills l's zero fields from d (server.DefaultAPILimits),
// d.MaxConns further capped at half the process's descriptor limit
// (RLIMIT_NOFILE), so that the API refuses connections politely before
// the agent runs out of descriptors.
func (l Limits) WithDefaults(d Limits) Limits {
	if lim, ok := descriptorLimit(); ok && uint64(d.MaxConns) > lim/2 {
		d.MaxConns = max(int(lim/2), 16)
	}
	for _, f := range []struct{ v, d *time.Duration }{{&l.ReadHeaderTimeout, &d.ReadHeaderTimeout}, {&l.ReadTimeout, &d.ReadTimeout}, {&l.WriteTimeout, &d.WriteTimeout}, {&l.IdleTimeout, &d.IdleTimeout}} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	if l.MaxConns <= 0 {
		l.MaxConns = d.MaxConns
	}
	if l.MaxConnsPerIP <= 0 {
		l.MaxConnsPerIP = d.MaxConnsPerIP
	}
	return l
}

// descriptorLimit is the soft RLIMIT_NOFILE.
func descriptorLimit() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur == 0 {
		return 0, false
	}
	return r.Cur, true
}

// Accept retries: the first wait after a failed accept, and the longest.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	// limitLogEvery spaces the log lines about exhaustion and refusals.
	limitLogEvery = 10 * time.Second
	// refuseTimeout bounds the answer to a refused connection.
	refuseTimeout = 2 * time.Second
	// maxRefusing bounds the refused connections being answered at once;
	// past it they are closed without an answer.
	maxRefusing = 32
	// refuseHeaderBytes bounds what is read of a refused request.
	refuseHeaderBytes = 16 << 10
)

// limitListener is the API's raw TCP listener, under TLS: it counts the
// open connections in total and per client address, answers those past
// a limit with a 503 of its own, and survives accept failing for want of
// descriptors or buffers.
type limitListener struct {
	net.Listener
	lim    Limits
	tls    *tls.Config // for the 503 of a refused connection; nil: plain HTTP
	logger hclog.Logger

	closeOnce sync.Once
	closed    chan struct{}
	refusing  chan struct{} // semaphore of refuse

	mu    sync.Mutex
	total int
	perIP map[string]int
	logs  ratelog.Limiter // by kind of line: the first, then one per limitLogEvery
}

func newLimitListener(ln net.Listener, lim Limits, tc *tls.Config, logger hclog.Logger) *limitListener {
	return &limitListener{Listener: ln, lim: lim, tls: tc, logger: logger, closed: make(chan struct{}),
		refusing: make(chan struct{}, maxRefusing), perIP: map[string]int{}, logs: ratelog.Limiter{Every: limitLogEvery}}
}

// Close closes the listener and ends a wait between failed accepts.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// errExhausted reports whether an accept failed for want of descriptors
// or kernel memory: the condition passes, so the listener waits and
// retries instead of failing (net/http would stop serving on ENOBUFS).
func errExhausted(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Accept returns the next connection within the limits. It answers the
// others itself, and waits (5 ms doubling to 1 s) while accept fails for
// want of descriptors, logging it at most every 10 s.
func (l *limitListener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !errExhausted(err) {
				return nil, err
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			l.logs.Log(l.logger, hclog.Warn, "exhausted", "api: out of file descriptors or buffers; new API connections wait (raise LimitNOFILE, or lower api limits)", "error", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-l.closed:
				t.Stop()
				return nil, net.ErrClosed
			case <-t.C:
			}
			continue
		}
		backoff = 0
		ip := clientIP(c.RemoteAddr())
		if why := l.admit(ip); why != "" {
			l.logs.Log(l.logger, hclog.Warn, "refused", "api: connection refused: "+why, "client", ip)
			l.refuse(c, why)
			continue
		}
		return &countedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

// clientIP is the address part of a remote address.
func clientIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// admit counts a connection from ip, or says why it is over a limit.
func (l *limitListener) admit(ip string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total >= l.lim.MaxConns:
		return fmt.Sprintf("the API has %d connections open, its limit", l.total)
	case l.perIP[ip] >= l.lim.MaxConnsPerIP:
		return fmt.Sprintf("%s has %d connections open, the limit per client address", ip, l.perIP[ip])
	}
	l.total++
	l.perIP[ip]++
	return ""
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// refuse answers c with 503 and code overloaded (over TLS unless the
// listener has no TLS configuration), after reading
// its request, and closes it; without waiting when too many refusals are
// under way.
func (l *limitListener) refuse(c net.Conn, why string) {
	select {
	case l.refusing <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(refuseTimeout))
		var tc net.Conn = c // plain HTTP without a TLS configuration (health.go)
		if l.tls != nil {
			t := tls.Server(c, l.tls)
			if err := t.Handshake(); err != nil {
				return
			}
			tc = t
		}
		if _, err := http.ReadRequest(bufio.NewReader(io.LimitReader(tc, refuseHeaderBytes))); err != nil {
			return
		}
		body, _ := json.Marshal(&api.Error{Message: "too many connections: " + why + "; try again later", Code: api.CodeOverloaded})
		fmt.Fprintf(tc, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s", len(body), body)
		if cw, ok := tc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
}

// countedConn gives its place back when closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
