package transport

import (
	"crypto/tls"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftha/raftha/internal/testsupport"
)

// A peer from another CA retrying in a loop gets one warning line, then at
// most one per interval with the count of those suppressed.
func TestRefusedPeersLogRateLimited(t *testing.T) {
	ours := mustCA(t, "ours")
	mustCert(t, ours, CertRequest{Name: "n1", Kind: KindMember, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	b, err := Load(filesFor(ours, "n1"))
	if err != nil {
		t.Fatal(err)
	}
	var out testsupport.SyncBuffer
	m, err := Listen("127.0.0.1:0", "", b, hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Info}))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var skew atomic.Int64 // the limiter's clock runs ahead of the real one by this
	m.refusals.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	m.Serve(func(c net.Conn, _ string) { c.Close() })

	theirs := mustCA(t, "theirs")
	f := mustCert(t, theirs, CertRequest{Name: "intruder", Kind: KindMember})
	cfg, err := LoadClient(filesFor(ours, "n1").CA, f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerName = "127.0.0.1"
	refuse := func(n int) {
		for i := 0; i < n; i++ {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", m.ListenAddr().String(), cfg)
			if err != nil {
				continue // refused during the handshake (TLS 1.2)
			}
			// TLS 1.3: the server's refusal arrives with the first read.
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Read(make([]byte, 1))
			c.Close()
		}
	}
	lines := func() []string {
		var l []string
		for _, s := range strings.Split(out.String(), "\n") {
			if strings.Contains(s, "refused peer") {
				l = append(l, s)
			}
		}
		return l
	}
	refuse(100)
	// The client may see a refusal before the server counted it (the
	// server logs, then untracks the connection): wait until every
	// refused connection is handled, or the last ones would be counted
	// after the clock jumps below.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		m.mu.Lock()
		open := len(m.conns)
		m.mu.Unlock()
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d refused connections still being handled after 5s", open)
		}
	}
	if got := lines(); len(got) != 1 {
		t.Fatalf("100 refused handshakes wrote %d warning lines, want 1", len(got))
	}
	skew.Store(int64(11 * time.Second)) // past the interval
	refuse(1)
	// The server logs after the client saw the refusal: wait for the line.
	var got []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got = lines(); len(got) >= 2 {
			break
		}
	}
	if len(got) != 2 || !strings.Contains(got[1], "suppressed=99") {
		t.Fatalf("after the interval, want a second line counting 99 suppressed; got:\n%s", strings.Join(got, "\n"))
	}
}
