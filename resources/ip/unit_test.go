package ip

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestValidate(t *testing.T) {
	three, neg := 3, -1
	ok := Params{Address: "198.18.5.10/24", Interface: "eth1", ARPCount: &three, ARPInterval: "100ms"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid params: %v", err)
	}
	if err := (&Params{Address: "198.18.5.10/32", Interface: "eth1"}).Validate(); err != nil {
		t.Fatalf("/32: %v", err)
	}
	cases := []struct {
		p    Params
		want string
	}{
		{Params{Interface: "eth1"}, "address is required"},
		{Params{Address: "198.18.5.10", Interface: "eth1"}, "address:"},
		{Params{Address: "2001:db8::1/64", Interface: "eth1"}, "not IPv4"},
		{Params{Address: "127.0.0.2/8", Interface: "eth1"}, "address:"},
		{Params{Address: "198.18.5.255/24", Interface: "eth1"}, "broadcast"},
		{Params{Address: "198.18.5.0/24", Interface: "eth1"}, "network"},
		{Params{Address: "198.18.5.10/24"}, "interface is required"},
		{Params{Address: "198.18.5.10/24", Interface: "eth0:1"}, "interface:"},
		{Params{Address: "198.18.5.10/24", Interface: "averyveryverylongname"}, "interface:"},
		{Params{Address: "198.18.5.10/24", Interface: "eth1", ARPCount: &neg}, "arp_count:"},
		{Params{Address: "198.18.5.10/24", Interface: "eth1", ARPInterval: "0s"}, "arp_interval:"},
	}
	for _, c := range cases {
		err := c.p.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want error naming %q", c.p, err, c.want)
		}
	}
	if _, err := Type.Build(&Params{}, testEnv()); err == nil {
		t.Fatal("Build accepted empty params")
	}
}

func TestGARPFrame(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}
	ip := netip.MustParseAddr("198.18.5.10")
	b := garpFrame(mac, ip)
	if len(b) != 60 {
		t.Fatalf("frame length %d", len(b))
	}
	p, ok := parseARP(b)
	if !ok {
		t.Fatal("parse")
	}
	if p.Op != arpRequest || p.SenderIP != ip || p.TargetIP != ip || p.SenderMAC.String() != mac.String() ||
		p.EthSrc.String() != mac.String() || p.EthDst.String() != "ff:ff:ff:ff:ff:ff" || p.TargetMAC.String() != "00:00:00:00:00:00" {
		t.Fatalf("frame %+v", p)
	}
}

func TestLastAddr(t *testing.T) {
	if got := lastAddr(netip.MustParsePrefix("198.18.5.10/24")); got.String() != "198.18.5.255" {
		t.Fatal(got)
	}
	if got := lastAddr(netip.MustParsePrefix("198.18.0.1/15")); got.String() != "198.19.255.255" {
		t.Fatal(got)
	}
}

// Reading links and addresses needs no privilege.
func TestNetlinkLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialNetlink(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l, err := c.linkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != "lo" || l.Index <= 0 {
		t.Fatalf("lo: %+v", l)
	}
	if _, err := c.linkByName("nosuch-raftha0"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing link: %v", err)
	}
	if _, err := c.addrs4(); err != nil {
		t.Fatal(err)
	}
}

func TestYAMLDecoding(t *testing.T) {
	const doc = "address: 198.18.5.10/24\ninterface: eth1\narp_count: 0\narp_interval: 100ms\n"
	p := Type.NewParams().(*Params)
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		t.Fatal(err)
	}
	if p.ARPCount == nil || *p.ARPCount != 0 || p.Interface != "eth1" || p.ARPInterval != "100ms" {
		t.Fatalf("decoded %+v", p)
	}
	r, err := Type.Build(p, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if got := r.(*Resource).arpCount; got != 0 {
		t.Fatalf("arp_count 0 became %d", got)
	}
}
