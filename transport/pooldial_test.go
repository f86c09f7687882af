package transport

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// callAtOnce makes n calls of fn at the same moment and returns their
// errors.
func callAtOnce(n int, fn func() error) []error {
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = fn()
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

// TestPoolConcurrentCallsShareOneDial: calls that find no connection to a
// peer share one dial: 64 calls at once open one stream, not one each (a
// TLS handshake per call was most of the CPU when hundreds of groups
// started at once), and 64 calls through a relay that refuses cost the
// relay one refusal, each call getting it as a dial error.
func TestPoolConcurrentCallsShareOneDial(t *testing.T) {
	dir := mustCA(t, "")
	n1 := muxFor(t, dir, "n1", KindMember)
	b := mustLoad(t, mustCert(t, dir, CertRequest{Name: "n2", Kind: KindMember}))
	n2, err := Listen("127.0.0.1:0", "", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n2.Close() })
	var streams atomic.Int64
	srv, err := NewRPCServer("Echo", func(peer string) any {
		if peer != "" { // "" is NewRPCServer's own check
			streams.Add(1)
		}
		return &echo{peer: peer}
	})
	if err != nil {
		t.Fatal(err)
	}
	n2.Serve(srv.ServeConn)

	p := NewPool(n1)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, err := range callAtOnce(64, func() error {
		var got string
		if err := p.Call(ctx, n2.Addr().String(), "Echo.Who", "hi", &got); err != nil {
			return err
		}
		if got != "n1 says hi" {
			return errors.New("answered " + got)
		}
		return nil
	}) {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if got := streams.Load(); got != 1 {
		t.Fatalf("64 concurrent calls opened %d streams to the peer, want 1", got)
	}

	w1 := muxFor(t, dir, "w1", KindMember)
	var asked atomic.Int64
	w1.SetRelay(func(Identity) (string, string, error) {
		asked.Add(1)
		time.Sleep(50 * time.Millisecond) // a relay under load: the calls overlap
		return "", "", errors.New("n1 is the leader")
	})
	for i, err := range callAtOnce(64, func() error {
		var got string
		return p.CallVia(ctx, w1.Addr().String(), "Echo.Who", "hi", &got)
	}) {
		if !errors.Is(err, ErrDial) || !errors.Is(err, ErrRelayRefused) {
			t.Fatalf("call %d through the refusing relay: %v, want ErrDial and ErrRelayRefused", i, err)
		}
	}
	if got := asked.Load(); got != 1 {
		t.Fatalf("64 concurrent calls asked the relay %d times, want 1", got)
	}
}

// TestPoolDialOutlivesItsFirstCaller: a shared dial is not cut short when
// the caller that began it gives up: a caller that waits longer still
// gets the connection.
func TestPoolDialOutlivesItsFirstCaller(t *testing.T) {
	n1, w1, free := stallingRelay(t, func(int64) bool { return true })
	p := NewPool(n1)
	defer p.Close()
	short, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		var got string
		first <- p.CallVia(short, w1.Addr().String(), "Echo.Who", "hi", &got)
	}()
	time.Sleep(100 * time.Millisecond) // the first caller's dial is under way
	long, cancelLong := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelLong()
	second := make(chan error, 1)
	var got string
	go func() { second <- p.CallVia(long, w1.Addr().String(), "Echo.Who", "hi", &got) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-first:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("first caller: %v, want its own cancellation", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first caller did not return when its context was cancelled")
	}
	free()
	if err := <-second; err != nil || got != "n1 says hi" {
		t.Fatalf("second caller: %v (%q), want the shared dial's connection", err, got)
	}
}

// TestPoolLaterCallDoesNotWaitOnAHungDial: a call that joined a shared
// dial waits for it only until it has been under way for poolJoinWindow,
// then dials afresh. A lease heartbeat must not fail because an earlier call's
// dial hangs (a relay or peer that stalled a handshake and recovered):
// before the shared dial each call made its own, and a heartbeat after
// the peer recovered got through.
func TestPoolLaterCallDoesNotWaitOnAHungDial(t *testing.T) {
	// The first request stalls; the relay then recovers.
	n1, w1, free := stallingRelay(t, func(n int64) bool { return n == 1 })
	p := NewPool(n1)
	defer p.Close()
	lease, cancelLease := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelLease()
	first := make(chan error, 1)
	go func() {
		var got string
		first <- p.CallVia(lease, w1.Addr().String(), "Echo.Who", "hi", &got)
	}()
	time.Sleep(100 * time.Millisecond) // the first dial hangs; the next heartbeat comes
	beat, cancelBeat := context.WithTimeout(context.Background(), time.Second)
	defer cancelBeat()
	var got string
	began := time.Now()
	if err := p.CallVia(beat, w1.Addr().String(), "Echo.Who", "hi", &got); err != nil || got != "n1 says hi" {
		t.Fatalf("a call after the relay recovered: %v (%q) after %v, want an answer over a dial of its own", err, got, time.Since(began).Round(time.Millisecond))
	}
	free()
	if err := <-first; err != nil {
		t.Fatalf("first caller, once its dial went through: %v", err)
	}
}

// stallingRelay returns member n1 and relay w1, which relays to the echo
// member n2 once free is called (or after 10 s) when stall says so of its
// nth request (from 1), and at once otherwise.
func stallingRelay(t *testing.T, stall func(n int64) bool) (n1, w1 *Mux, free func()) {
	dir := mustCA(t, "")
	n1 = muxFor(t, dir, "n1", KindMember)
	w1 = muxFor(t, dir, "w1", KindMember)
	n2 := echoMux(t, dir, "n2")
	release := make(chan struct{})
	var once sync.Once
	free = func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	var asked atomic.Int64
	w1.SetRelay(func(Identity) (string, string, error) {
		if stall(asked.Add(1)) {
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
		}
		return n2.Addr().String(), "n2", nil
	})
	return n1, w1, free
}

// TestPoolCloseEndsItsDials: a dial under way when the pool closes ends
// with it. It used to run on, detached from its callers, to their
// deadline (up to maxPoolDial) and pool the connection it got in the
// closed pool, where nothing would ever close it.
func TestPoolCloseEndsItsDials(t *testing.T) {
	n1, w1, free := stallingRelay(t, func(int64) bool { return true })
	p := NewPool(n1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	called := make(chan error, 1)
	go func() {
		var got string
		called <- p.CallVia(ctx, w1.Addr().String(), "Echo.Who", "hi", &got)
	}()
	time.Sleep(100 * time.Millisecond) // the dial waits for the relay
	p.Close()
	free() // the relay answers: the dial would now get through
	if err := <-called; err == nil {
		t.Fatal("a call whose dial was under way when the pool closed succeeded")
	}
	waitDials := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		left, pooled := len(p.dialing), len(p.clients)
		p.mu.Unlock()
		if left == 0 {
			if pooled != 0 {
				t.Fatalf("%d connections pooled after the pool closed; nothing closes them", pooled)
			}
			break
		}
		if time.Now().After(waitDials) {
			t.Fatalf("%d dials still under way 5s after the pool closed", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
