// Package ip is the `ip` resource: a floating IPv4 address on a local
// interface, like CLUSTERPRO's floating IP resource. It is for networks
// that speak ARP: an AWS Outposts server's local network interface (LNI)
// or an on-premises LAN. (A VPC ENI ignores ARP; use the route-table
// virtual IP or an Elastic IP there.)
//
// Start adds the address to the interface over rtnetlink if it is missing,
// verifies it is present, then announces it with gratuitous ARP requests
// (sender IP = target IP = the address, broadcast) sent from an AF_PACKET
// socket, so that neighbours and switches move to the new owner at once.
// Stop removes the address. Check verifies the address is on the
// interface and the interface is up with a carrier.
//
// All sockets are opened on the calling goroutine: a caller that has
// entered a network namespace on a locked OS thread acts in that
// namespace.
package ip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/raftha/raftha/resources"
)

// Params are the ip resource's YAML settings.
type Params struct {
	// Address is the floating address with its prefix length, e.g.
	// 198.18.5.10/24 (required; IPv4).
	Address string `yaml:"address" json:"address,omitempty"`
	// Interface is the local interface to put it on, e.g. eth1 (required).
	Interface string `yaml:"interface" json:"interface,omitempty"`
	// ARPCount is how many gratuitous ARP requests Start sends (default 3;
	// 0 disables).
	ARPCount *int `yaml:"arp_count" json:"arp_count,omitempty"`
	// ARPInterval is the gap between them (default 200ms).
	ARPInterval string `yaml:"arp_interval" json:"arp_interval,omitempty"`
}

// Validate implements resources.Validator.
func (p *Params) Validate() error {
	var errs []error
	if p.Address == "" {
		errs = append(errs, errors.New("address is required (CIDR like 198.18.5.10/24)"))
	} else if pfx, err := netip.ParsePrefix(p.Address); err != nil {
		errs = append(errs, fmt.Errorf("address: expected an IPv4 address with prefix length like 198.18.5.10/24, got %q", p.Address))
	} else if a := pfx.Addr(); !a.Is4() {
		errs = append(errs, fmt.Errorf("address: %s is not IPv4 (IPv6 floating addresses are not supported)", p.Address))
	} else if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		errs = append(errs, fmt.Errorf("address: %s cannot be a floating address", p.Address))
	} else if pfx.Bits() <= 30 && (a == lastAddr(pfx) || a == pfx.Masked().Addr()) {
		errs = append(errs, fmt.Errorf("address: %s is the network or broadcast address of its subnet", p.Address))
	}
	if p.Interface == "" {
		errs = append(errs, errors.New("interface is required"))
	} else if len(p.Interface) > unix.IFNAMSIZ-1 || strings.ContainsAny(p.Interface, "/: \t\n") || p.Interface == "." || p.Interface == ".." {
		errs = append(errs, fmt.Errorf("interface: %q is not a valid interface name", p.Interface))
	}
	if p.ARPCount != nil && (*p.ARPCount < 0 || *p.ARPCount > 100) {
		errs = append(errs, fmt.Errorf("arp_count: expected 0 to 100, got %d", *p.ARPCount))
	}
	if p.ARPInterval != "" {
		if d, err := time.ParseDuration(p.ARPInterval); err != nil || d <= 0 || d > time.Minute {
			errs = append(errs, fmt.Errorf("arp_interval: expected a positive duration up to 1m like 200ms, got %q", p.ARPInterval))
		}
	}
	return errors.Join(errs...)
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := ^uint32(0) >> p.Bits()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Type is the ip resource type for a resources.Registry.
var Type = resources.Type{
	Name:      "ip",
	NewParams: func() any { return &Params{} },
	Build: func(params any, env resources.Env) (resources.Resource, error) {
		p, ok := params.(*Params)
		if !ok {
			return nil, fmt.Errorf("ip: params of type %T", params)
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		pfx, _ := netip.ParsePrefix(p.Address)
		r := &Resource{
			p:        *p,
			log:      env.Logger,
			prefix:   pfx,
			arpCount: 3,
			interval: resources.DurationOr(p.ARPInterval, 200*time.Millisecond),
		}
		if p.ARPCount != nil {
			r.arpCount = *p.ARPCount
		}
		if r.log == nil {
			r.log = hclog.NewNullLogger()
		}
		return r, nil
	},
}

// Resource is one ip resource instance.
type Resource struct {
	p        Params
	log      hclog.Logger
	prefix   netip.Prefix
	arpCount int
	interval time.Duration

	mu sync.Mutex // serialises Start and Stop
}

// state is what the kernel says about the address and the interface.
type state struct {
	link    link
	present bool     // exact prefix on our interface
	other   []string // the address elsewhere: "eth0 (198.18.5.10/16)"
}

func (r *Resource) observe(c *nlConn) (state, error) {
	var s state
	l, err := c.linkByName(r.p.Interface)
	if err != nil {
		return s, err
	}
	s.link = l
	addrs, err := c.addrs4()
	if err != nil {
		return s, err
	}
	for _, a := range addrs {
		if a.Prefix.Addr() != r.prefix.Addr() {
			continue
		}
		if a.Index == l.Index && a.Prefix.Bits() == r.prefix.Bits() {
			s.present = true
			continue
		}
		name := fmt.Sprintf("ifindex %d", a.Index)
		if a.Index == l.Index {
			name = l.Name
		} else if o, err := c.linkByIndex(a.Index); err == nil && o.Name != "" {
			name = o.Name
		}
		s.other = append(s.other, fmt.Sprintf("%s (%s)", name, a.Prefix))
	}
	return s, nil
}

// linkUsable reports why l cannot carry the address, or nil.
func linkUsable(l link) error {
	if l.Flags&unix.IFF_UP == 0 {
		return fmt.Errorf("interface %s is down (administratively)", l.Name)
	}
	switch l.OperState {
	case operUp, operUnknown: // unknown: drivers that do not report (dummy, tun)
		return nil
	}
	return fmt.Errorf("interface %s is up but not operational (no carrier?): state %s", l.Name, operName(l.OperState))
}

// Start implements resources.Resource.
func (r *Resource) Start(ctx context.Context, tok resources.Token) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := dialNetlink(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := r.observe(c)
	if err != nil {
		return err
	}
	if len(s.other) > 0 {
		return fmt.Errorf("%s is already assigned on this host to %s; refusing to add it to %s",
			r.prefix.Addr(), strings.Join(s.other, ", "), r.p.Interface)
	}
	if err := linkUsable(s.link); err != nil {
		return err
	}
	if !s.present {
		r.log.Info("adding floating address", "address", r.prefix, "interface", s.link.Name, "group", tok.Group, "epoch", tok.Epoch)
		if err := c.addAddr(s.link.Index, r.prefix); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add %s to %s: %w", r.prefix, s.link.Name, err)
		}
		if s, err = r.observe(c); err != nil {
			return err
		}
		if !s.present {
			return fmt.Errorf("added %s to %s but the kernel does not list it", r.prefix, s.link.Name)
		}
	}
	if r.arpCount == 0 {
		return nil
	}
	if s.link.Type != unix.ARPHRD_ETHER || len(s.link.MAC) != 6 {
		r.log.Warn("interface is not Ethernet; not sending gratuitous ARP", "interface", s.link.Name, "arphrd", s.link.Type)
		return nil
	}
	n, err := sendGratuitousARP(ctx, s.link, r.prefix.Addr(), r.arpCount, r.interval)
	if err != nil {
		return err
	}
	r.log.Debug("sent gratuitous ARP", "address", r.prefix.Addr(), "interface", s.link.Name, "count", n)
	return nil
}

// Stop implements resources.Resource.
func (r *Resource) Stop(ctx context.Context, tok resources.Token) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := dialNetlink(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := r.observe(c)
	if err != nil {
		return err
	}
	if len(s.other) > 0 {
		r.log.Warn("address is assigned elsewhere (not by this resource); leaving it", "address", r.prefix.Addr(), "at", strings.Join(s.other, ", "))
	}
	if !s.present {
		return nil
	}
	r.log.Info("removing floating address", "address", r.prefix, "interface", s.link.Name, "group", tok.Group, "epoch", tok.Epoch)
	if err := c.delAddr(s.link.Index, r.prefix); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("remove %s from %s: %w", r.prefix, s.link.Name, err)
	}
	if s, err = r.observe(c); err != nil {
		return err
	}
	if s.present {
		return fmt.Errorf("removed %s from %s but the kernel still lists it", r.prefix, s.link.Name)
	}
	return nil
}

// Check implements resources.Resource.
func (r *Resource) Check(ctx context.Context, tok resources.Token) error {
	c, err := dialNetlink(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := r.observe(c)
	if err != nil {
		return err
	}
	if !s.present {
		return fmt.Errorf("%s is not present on %s", r.prefix, r.p.Interface)
	}
	return linkUsable(s.link)
}
