package server

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The member and CA certificates' expiry are exported as Unix times.
func TestCertificateExpiryMetric(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "n3")
	c.start("n1")
	m := c.member("n1")
	out := c.scrape(t, m)
	want := map[string]time.Time{"member": m.srv.bundle.Certificate.Leaf.NotAfter, "ca": m.srv.bundle.CACerts[0].NotAfter}
	for kind, at := range want {
		prefix := fmt.Sprintf("raftha_certificate_expiry_timestamp_seconds{kind=%q} ", kind)
		var got string
		for _, line := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(line, prefix); ok {
				got = v
			}
		}
		v, err := strconv.ParseFloat(got, 64)
		if err != nil || int64(v) != at.Unix() {
			t.Errorf("kind %s: got %q, want %d (%s)", kind, got, at.Unix(), at)
		}
	}
}
