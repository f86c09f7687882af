package ip

// These tests need root and iproute2's `ip`. Each builds two network
// namespaces joined by a veth pair (addresses only in 198.18.0.0/15), runs
// the resource inside one of them on a goroutine locked to an OS thread
// that entered the namespace with setns(2), and captures the gratuitous
// ARP on the peer side with an AF_PACKET socket in the other namespace.
// Namespaces and links are deleted in t.Cleanup, also on failure.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	osexec "os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/raftha/raftha/resources"
)

const (
	floating = "198.18.5.10/24"
	addrA    = "198.18.5.1/24"
	addrB    = "198.18.5.2/24"
)

func testEnv() resources.Env {
	return resources.Env{
		Logger: hclog.New(&hclog.LoggerOptions{Name: "ip", Level: hclog.Debug, Output: os.Stderr}),
		NodeID: "node-a",
	}
}

func tok() resources.Token {
	return resources.Token{Group: "g1", Node: "node-a", Epoch: 9, Resource: "fip"}
}

func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := ipCmdErr(args...)
	if err != nil {
		t.Fatalf("ip %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func ipCmdErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := osexec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// netPair is two namespaces: A (veth0, where the resource runs) and B
// (veth1, the neighbour).
type netPair struct {
	a, b string
}

func newNetPair(t *testing.T) *netPair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("ip tests need root (network namespaces, veth, AF_PACKET); skipping")
	}
	if _, err := osexec.LookPath("ip"); err != nil {
		t.Skip("ip tests need iproute2's ip command, not found in PATH; skipping")
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	base := "raftha-ipt-" + hex.EncodeToString(rnd[:])
	n := &netPair{a: base + "-a", b: base + "-b"}
	if _, err := ipCmdErr("netns", "add", n.a); err != nil {
		t.Skipf("cannot create network namespaces here (ip netns add: %v); skipping", err)
	}
	t.Cleanup(func() {
		if _, err := ipCmdErr("-n", n.a, "link", "del", "veth0"); err != nil {
			t.Logf("cleanup: %v", err)
		}
		for _, ns := range []string{n.a, n.b} {
			if _, err := ipCmdErr("netns", "del", ns); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	})
	ipCmd(t, "netns", "add", n.b)
	ipCmd(t, "-n", n.a, "link", "add", "name", "veth0", "type", "veth", "peer", "name", "veth1", "netns", n.b)
	for _, c := range [][]string{
		{"-n", n.a, "link", "set", "lo", "up"},
		{"-n", n.b, "link", "set", "lo", "up"},
		{"-n", n.a, "addr", "add", addrA, "dev", "veth0"},
		{"-n", n.b, "addr", "add", addrB, "dev", "veth1"},
		{"-n", n.a, "link", "set", "veth0", "up"},
		{"-n", n.b, "link", "set", "veth1", "up"},
	} {
		ipCmd(t, c...)
	}
	n.waitOper(t, n.a, "veth0", operUp)
	n.waitOper(t, n.b, "veth1", operUp)
	return n
}

// waitOper waits (bounded) for an interface's operational state.
func (n *netPair) waitOper(t *testing.T, ns, ifname string, want ...uint8) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last link
	for time.Now().Before(deadline) {
		err := inNS(t, ns, func() error {
			c, err := dialNetlink(context.Background())
			if err != nil {
				return err
			}
			defer c.Close()
			last, err = c.linkByName(ifname)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if last.OperState == w {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s in %s: operational state %s, want one of %v", ifname, ns, operName(last.OperState), want)
}

// inNS runs fn on a fresh OS thread that has entered network namespace
// ns. The thread stays locked and is discarded by the runtime when fn
// returns, so no other goroutine ever runs in the namespace.
func inNS(t *testing.T, ns string, fn func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			fd, err = unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		}
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", ns, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(60 * time.Second):
		return fmt.Errorf("work in namespace %s did not finish in 60s", ns)
	}
}

// capture reads ARP frames on ifname in namespace ns.
type capture struct {
	ready chan error
	stop  chan struct{}
	once  sync.Once
	done  chan []arpPacket
}

func startCapture(t *testing.T, ns, ifname string, sender netip.Addr) *capture {
	t.Helper()
	c := &capture{ready: make(chan error, 1), stop: make(chan struct{}), done: make(chan []arpPacket, 1)}
	go func() {
		var got []arpPacket
		err := inNS(t, ns, func() error {
			nl, err := dialNetlink(context.Background())
			if err != nil {
				return err
			}
			l, err := nl.linkByName(ifname)
			nl.Close()
			if err != nil {
				return err
			}
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(ethPARP)))
			if err != nil {
				return fmt.Errorf("capture socket: %w", err)
			}
			defer unix.Close(fd)
			if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(ethPARP), Ifindex: l.Index}); err != nil {
				return fmt.Errorf("capture bind: %w", err)
			}
			tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
			if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				return err
			}
			c.ready <- nil
			buf := make([]byte, 2048)
			hard := time.Now().Add(30 * time.Second)
			for time.Now().Before(hard) {
				select {
				case <-c.stop:
					return nil
				default:
				}
				n, from, err := unix.Recvfrom(fd, buf, 0)
				if err != nil {
					if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
						continue
					}
					return fmt.Errorf("capture recv: %w", err)
				}
				if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Ifindex != l.Index {
					continue
				}
				if p, ok := parseARP(append([]byte(nil), buf[:n]...)); ok && p.SenderIP == sender {
					got = append(got, p)
				}
			}
			return nil
		})
		if err != nil {
			select {
			case c.ready <- err:
			default:
			}
			t.Errorf("capture: %v", err)
		}
		c.done <- got
	}()
	t.Cleanup(func() {
		c.once.Do(func() { close(c.stop) })
		select {
		case got := <-c.done:
			c.done <- got
		case <-time.After(20 * time.Second):
			t.Log("capture goroutine did not stop")
		}
	})
	select {
	case err := <-c.ready:
		if err != nil {
			t.Fatalf("capture: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("capture socket not ready in 20s")
	}
	return c
}

// collect lets the capture run for d more, then stops it.
func (c *capture) collect(t *testing.T, d time.Duration) []arpPacket {
	t.Helper()
	time.Sleep(d)
	c.once.Do(func() { close(c.stop) })
	select {
	case got := <-c.done:
		c.done <- got
		return got
	case <-time.After(20 * time.Second):
		t.Fatal("capture did not stop")
		return nil
	}
}

func (n *netPair) build(t *testing.T, p Params) resources.Resource {
	t.Helper()
	if p.Address == "" {
		p.Address = floating
	}
	if p.Interface == "" {
		p.Interface = "veth0"
	}
	r, err := Type.Build(&p, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// inA runs a resource method inside namespace A under a 30s deadline.
func (n *netPair) inA(t *testing.T, fn func(ctx context.Context) error) error {
	t.Helper()
	return inNS(t, n.a, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return fn(ctx)
	})
}

func hasAddr(t *testing.T, ns, dev, cidr string) bool {
	t.Helper()
	out := ipCmd(t, "-n", ns, "-o", "-4", "addr", "show", "dev", dev)
	for _, f := range strings.Fields(out) {
		if f == cidr {
			return true
		}
	}
	return false
}

func macOf(t *testing.T, ns, dev string) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	err := inNS(t, ns, func() error {
		c, err := dialNetlink(context.Background())
		if err != nil {
			return err
		}
		defer c.Close()
		l, err := c.linkByName(dev)
		mac = l.MAC
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

func TestFloatingIPLifecycle(t *testing.T) {
	n := newNetPair(t)
	r := n.build(t, Params{})
	fip := netip.MustParsePrefix(floating).Addr()
	macA := macOf(t, n.a, "veth0")

	if err := n.inA(t, func(ctx context.Context) error { return r.Check(ctx, tok()) }); err == nil || !strings.Contains(err.Error(), "not present") {
		t.Fatalf("Check before Start: %v", err)
	}
	if err := n.inA(t, func(ctx context.Context) error { return r.Stop(ctx, tok()) }); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}

	capt := startCapture(t, n.b, "veth1", fip)
	start := time.Now()
	if err := n.inA(t, func(ctx context.Context) error { return r.Start(ctx, tok()) }); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("Start took %s; 3 ARPs 200ms apart take at least 400ms", d)
	}
	if !hasAddr(t, n.a, "veth0", floating) {
		t.Fatalf("%s not on veth0 after Start:\n%s", floating, ipCmd(t, "-n", n.a, "addr"))
	}
	frames := capt.collect(t, 300*time.Millisecond)
	if len(frames) < 3 {
		t.Fatalf("captured %d gratuitous ARPs on the peer, want 3", len(frames))
	}
	for _, p := range frames {
		if p.Op != arpRequest || p.TargetIP != fip || p.EthDst.String() != "ff:ff:ff:ff:ff:ff" ||
			p.EthSrc.String() != macA.String() || p.SenderMAC.String() != macA.String() {
			t.Fatalf("not a gratuitous ARP request from veth0 (%s): %+v", macA, p)
		}
	}
	t.Logf("peer saw %d gratuitous ARP requests for %s from %s", len(frames), fip, macA)

	if err := n.inA(t, func(ctx context.Context) error { return r.Check(ctx, tok()) }); err != nil {
		t.Fatalf("Check: %v", err)
	}

	// A client in B reaches a server listening on the floating address.
	var ln net.Listener
	if err := inNS(t, n.a, func() (err error) {
		ln, err = net.Listen("tcp4", fip.String()+":0")
		return err
	}); err != nil {
		t.Fatalf("listen on the floating address: %v", err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	if err := inNS(t, n.b, func() error {
		c, err := net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 2)
		if _, err := c.Read(b); err != nil || string(b) != "ok" {
			return fmt.Errorf("read %q: %v", b, err)
		}
		return nil
	}); err != nil {
		t.Fatalf("client in the peer namespace: %v", err)
	}
	ln.Close()

	if err := n.inA(t, func(ctx context.Context) error { return r.Start(ctx, tok()) }); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if err := n.inA(t, func(ctx context.Context) error { return r.Stop(ctx, tok()) }); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if hasAddr(t, n.a, "veth0", floating) {
		t.Fatalf("%s still on veth0 after Stop", floating)
	}
	if !hasAddr(t, n.a, "veth0", addrA) {
		t.Fatalf("Stop removed the interface's own address %s", addrA)
	}
	if err := n.inA(t, func(ctx context.Context) error { return r.Check(ctx, tok()) }); err == nil || !strings.Contains(err.Error(), "not present") {
		t.Fatalf("Check after Stop: %v", err)
	}
	if err := n.inA(t, func(ctx context.Context) error { return r.Stop(ctx, tok()) }); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestCheckInterfaceDown(t *testing.T) {
	n := newNetPair(t)
	one := 1
	r := n.build(t, Params{ARPCount: &one})
	if err := n.inA(t, func(ctx context.Context) error { return r.Start(ctx, tok()) }); err != nil {
		t.Fatalf("Start: %v", err)
	}
	// Peer down: veth0 loses its carrier (a pulled cable on an LNI);
	// veth reports that as operational state down, other drivers as
	// lowerlayerdown.
	ipCmd(t, "-n", n.b, "link", "set", "veth1", "down")
	n.waitOper(t, n.a, "veth0", operDown, operLowerLayerDown)
	if err := n.inA(t, func(ctx context.Context) error { return r.Check(ctx, tok()) }); err == nil || !strings.Contains(err.Error(), "not operational") {
		t.Fatalf("Check without carrier: %v", err)
	}
	ipCmd(t, "-n", n.a, "link", "set", "veth0", "down")
	if err := n.inA(t, func(ctx context.Context) error { return r.Check(ctx, tok()) }); err == nil || !strings.Contains(err.Error(), "is down") {
		t.Fatalf("Check with the interface down: %v", err)
	}
	// Stop still removes the address from a down interface.
	if err := n.inA(t, func(ctx context.Context) error { return r.Stop(ctx, tok()) }); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if hasAddr(t, n.a, "veth0", floating) {
		t.Fatal("address left on the down interface")
	}
	// Start refuses a down interface without adding the address.
	if err := n.inA(t, func(ctx context.Context) error { return r.Start(ctx, tok()) }); err == nil || !strings.Contains(err.Error(), "is down") {
		t.Fatalf("Start on a down interface: %v", err)
	}
	if hasAddr(t, n.a, "veth0", floating) {
		t.Fatal("Start added the address to a down interface")
	}
}

func TestARPDisabled(t *testing.T) {
	n := newNetPair(t)
	zero := 0
	r := n.build(t, Params{ARPCount: &zero})
	capt := startCapture(t, n.b, "veth1", netip.MustParsePrefix(floating).Addr())
	if err := n.inA(t, func(ctx context.Context) error { return r.Start(ctx, tok()) }); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if frames := capt.collect(t, 600*time.Millisecond); len(frames) != 0 {
		t.Fatalf("arp_count 0 but the peer saw %d gratuitous ARPs", len(frames))
	}
	if !hasAddr(t, n.a, "veth0", floating) {
		t.Fatal("address missing")
	}
}

func TestConflicts(t *testing.T) {
	n := newNetPair(t)
	// The address with another prefix length on another interface.
	ipCmd(t, "-n", n.a, "addr", "add", "198.18.5.10/16", "dev", "lo")
	r := n.build(t, Params{})
	err := n.inA(t, func(ctx context.Context) error { return r.Start(ctx, tok()) })
	if err == nil || !strings.Contains(err.Error(), "already assigned") || !strings.Contains(err.Error(), "lo (198.18.5.10/16)") {
		t.Fatalf("Start with the address elsewhere: %v", err)
	}
	if hasAddr(t, n.a, "veth0", floating) {
		t.Fatal("added despite the conflict")
	}
	// Stop leaves what it did not add.
	if err := n.inA(t, func(ctx context.Context) error { return r.Stop(ctx, tok()) }); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if !hasAddr(t, n.a, "lo", "198.18.5.10/16") {
		t.Fatal("Stop removed an address on another interface")
	}

	missing := n.build(t, Params{Interface: "nosuch0"})
	if err := n.inA(t, func(ctx context.Context) error { return missing.Start(ctx, tok()) }); err == nil || !strings.Contains(err.Error(), "nosuch0 not found") {
		t.Fatalf("Start on a missing interface: %v", err)
	}
	if err := n.inA(t, func(ctx context.Context) error { return missing.Check(ctx, tok()) }); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("Check on a missing interface: %v", err)
	}
}
