package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestLoopbackDistinctAndBindable(t *testing.T) {
	ports, err := Loopback(8)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 8 {
		t.Fatalf("got %d ports, want 8", len(ports))
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("port %d zero or repeated in %v", p, ports)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d not free after Loopback returned: %v", p, err)
		}
		ln.Close()
	}
}
