package integration

// The fault suite's prober: it asks every node's application address,
// many times a second, who serves the application.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// probeRec is one probe of one node's application address.
type probeRec struct {
	start, end int64 // mono: request sent, answer (or error) received
	ok         bool
	epoch      uint64
}

// prober asks every node's address, each in its own loop, who serves the
// application.
type prober struct {
	mu     sync.Mutex
	recs   map[string][]probeRec
	cancel context.CancelFunc
	done   chan struct{}
}

// appAnswer is the application's HTTP answer.
type appAnswer struct {
	Node  string `json:"node"`
	Epoch uint64 `json:"epoch"`
	Seq   uint64 `json:"seq"`
	PID   int    `json:"pid"`
}

// startProber probes every node's application address from the root
// namespace every 30ms, one loop per node so that an unreachable node
// does not slow the others (bounded: at most 20 minutes).
func (c *fcluster) startProber() *prober {
	p := &prober{done: make(chan struct{}), recs: map[string][]probeRec{}}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	var wg sync.WaitGroup
	for _, m := range c.nodes() {
		wg.Add(1)
		go func(m *member) {
			defer wg.Done()
			tick := time.NewTicker(30 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < 20*60*40; i++ {
				r := probeRec{start: monoNow()}
				a, err := probeApp(ctx, m.ip, 250*time.Millisecond)
				r.end = monoNow()
				if ctx.Err() != nil {
					return
				}
				r.ok, r.epoch = err == nil, a.Epoch
				p.mu.Lock()
				p.recs[m.id] = append(p.recs[m.id], r)
				p.mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}(m)
	}
	go func() {
		wg.Wait()
		close(p.done)
	}()
	return p
}

var probeClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// probeApp asks one address who serves the application.
func probeApp(ctx context.Context, ip string, timeout time.Duration) (appAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var a appAnswer
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/", ip, fiAppPort), nil)
	if err != nil {
		return a, err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return a, fmt.Errorf("answer %q: %v", body, err)
	}
	return a, nil
}

func (p *prober) stop() {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

func (p *prober) snapshot() map[string][]probeRec {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string][]probeRec{}
	for n, rs := range p.recs {
		out[n] = append([]probeRec(nil), rs...)
	}
	return out
}

// firstAnswer returns when node first answered at epoch to a probe sent
// at or after from.
func (p *prober) firstAnswer(from int64, node string, epoch uint64) (int64, bool) {
	for _, r := range p.snapshot()[node] {
		if r.start >= from && r.ok && r.epoch == epoch {
			return r.end, true
		}
	}
	return 0, false
}

// recovery measures what a user sees: from the fault at from until node
// answers at epoch for good (to: the end of the window, 0 for none), that
// is the first such answer after the last probe of node sent in the window
// that got no answer, or another epoch's. It is 0 when node answered at
// epoch throughout (the application never stopped).
func (p *prober) recovery(from, to int64, node string, epoch uint64) (time.Duration, bool) {
	rs := p.snapshot()[node]
	in := func(r probeRec) bool { return r.start >= from && (to == 0 || r.start <= to) }
	lastBad := int64(-1)
	for _, r := range rs {
		if in(r) && !(r.ok && r.epoch == epoch) {
			lastBad = r.start
		}
	}
	for _, r := range rs {
		if in(r) && r.start > lastBad && r.ok && r.epoch == epoch {
			if lastBad < 0 {
				return 0, true
			}
			return time.Duration(r.end - from), true
		}
	}
	return 0, false
}

// answeredBy lists which nodes answered probes sent in [from, to], with
// the epochs they answered at.
func (p *prober) answeredBy(from, to int64) map[string][]uint64 {
	out := map[string][]uint64{}
	for n, rs := range p.snapshot() {
		for _, r := range rs {
			if !r.ok || r.start < from || (to > 0 && r.start > to) {
				continue
			}
			found := false
			for _, x := range out[n] {
				found = found || x == r.epoch
			}
			if !found {
				out[n] = append(out[n], r.epoch)
			}
		}
	}
	for n := range out {
		sort.Slice(out[n], func(i, j int) bool { return out[n][i] < out[n][j] })
	}
	return out
}
