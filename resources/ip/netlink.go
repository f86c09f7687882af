package ip

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A minimal rtnetlink client: enough to look up a link and to list, add
// and delete IPv4 addresses. The socket is created on the calling
// goroutine's thread, so it belongs to that thread's network namespace.

// defaultNetlinkTimeout bounds a netlink exchange when ctx has no deadline.
const defaultNetlinkTimeout = 10 * time.Second

type nlConn struct {
	fd  int
	pid uint32
	seq uint32
}

func dialNetlink(ctx context.Context) (*nlConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	c := &nlConn{fd: fd, seq: uint32(time.Now().UnixNano())}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		c.Close()
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("netlink getsockname: %w", err)
	}
	c.pid = sa.(*unix.SockaddrNetlink).Pid
	// Short acks with the kernel's error message text when it has one.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultNetlinkTimeout)
	}
	tv := unix.NsecToTimeval(max(int64(time.Until(deadline)), int64(time.Millisecond)))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		c.Close()
		return nil, fmt.Errorf("netlink SO_RCVTIMEO: %w", err)
	}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	return c, nil
}

// Close closes the netlink socket.
func (c *nlConn) Close() error { return unix.Close(c.fd) }

type rtattr struct {
	typ  uint16
	data []byte
}

func align4(n int) int { return (n + 3) &^ 3 }

func (c *nlConn) build(typ, flags uint16, body []byte, attrs []rtattr) []byte {
	c.seq++
	n := unix.SizeofNlMsghdr + align4(len(body))
	for _, a := range attrs {
		n += align4(unix.SizeofRtAttr + len(a.data))
	}
	b := make([]byte, n)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(n))
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], flags)
	ne.PutUint32(b[8:], c.seq)
	ne.PutUint32(b[12:], c.pid)
	off := unix.SizeofNlMsghdr
	copy(b[off:], body)
	off += align4(len(body))
	for _, a := range attrs {
		ne.PutUint16(b[off:], uint16(unix.SizeofRtAttr+len(a.data)))
		ne.PutUint16(b[off+2:], a.typ)
		copy(b[off+unix.SizeofRtAttr:], a.data)
		off += align4(unix.SizeofRtAttr + len(a.data))
	}
	return b
}

// request sends one message and collects the replies: for a dump until
// NLMSG_DONE, otherwise until the kernel's ack.
func (c *nlConn) request(typ, flags uint16, body []byte, attrs ...rtattr) ([]syscall.NetlinkMessage, error) {
	dump := flags&unix.NLM_F_DUMP == unix.NLM_F_DUMP
	flags |= unix.NLM_F_REQUEST
	if !dump {
		flags |= unix.NLM_F_ACK
	}
	msg := c.build(typ, flags, body, attrs)
	seq := c.seq
	if err := unix.Sendto(c.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	var out []syscall.NetlinkMessage
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EWOULDBLOCK) {
				return nil, errors.New("netlink: no answer from the kernel before the deadline")
			}
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		if n < unix.SizeofNlMsghdr {
			return nil, fmt.Errorf("netlink: short message (%d bytes)", n)
		}
		// Copy: the parsed messages alias the buffer, which is reused.
		msgs, err := syscall.ParseNetlinkMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			return nil, fmt.Errorf("netlink parse: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq || m.Header.Pid != c.pid {
				continue // stale answer to an earlier request
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				if len(m.Data) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m.Data)); e < 0 {
						return nil, syscall.Errno(-e)
					}
				}
				return out, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return nil, errors.New("netlink: truncated error message")
				}
				e := int32(binary.NativeEndian.Uint32(m.Data))
				if e == 0 {
					return out, nil // ack
				}
				errno := syscall.Errno(-e)
				if text := extackMessage(m); text != "" {
					return nil, &nlError{errno: errno, text: text}
				}
				return nil, errno
			default:
				out = append(out, m)
			}
		}
	}
}

// nlError is an errno with the kernel's extended ack message.
type nlError struct {
	errno syscall.Errno
	text  string
}

// Error returns the errno's text followed by the kernel's message.
func (e *nlError) Error() string { return e.errno.Error() + ": " + e.text }

// Unwrap returns the errno, for errors.Is.
func (e *nlError) Unwrap() error { return e.errno }

// extackMessage returns NLMSGERR_ATTR_MSG from an error message sent with
// NETLINK_CAP_ACK (so only the original header is echoed).
func extackMessage(m syscall.NetlinkMessage) string {
	if m.Header.Flags&unix.NLM_F_ACK_TLVS == 0 {
		return ""
	}
	off := 4 + unix.SizeofNlMsghdr
	if m.Header.Flags&unix.NLM_F_CAPPED == 0 && len(m.Data) >= off {
		orig := binary.NativeEndian.Uint32(m.Data[4:])
		off = 4 + align4(int(orig))
	}
	for off+unix.SizeofRtAttr <= len(m.Data) {
		l := int(binary.NativeEndian.Uint16(m.Data[off:]))
		t := binary.NativeEndian.Uint16(m.Data[off+2:])
		if l < unix.SizeofRtAttr || off+l > len(m.Data) {
			break
		}
		if t == unix.NLMSGERR_ATTR_MSG {
			s := m.Data[off+unix.SizeofRtAttr : off+l]
			for i, ch := range s {
				if ch == 0 {
					s = s[:i]
					break
				}
			}
			return string(s)
		}
		off += align4(l)
	}
	return ""
}

// link is what the resource needs to know about an interface.
type link struct {
	Index     int
	Name      string
	Flags     uint32 // IFF_*
	Type      uint16 // ARPHRD_*
	MAC       net.HardwareAddr
	OperState uint8 // IF_OPER_*
}

// RFC 2863 operational states (IFLA_OPERSTATE).
const (
	operUnknown        = 0
	operNotPresent     = 1
	operDown           = 2
	operLowerLayerDown = 3
	operTesting        = 4
	operDormant        = 5
	operUp             = 6
)

func operName(s uint8) string {
	switch s {
	case operUnknown:
		return "unknown"
	case operNotPresent:
		return "notpresent"
	case operDown:
		return "down"
	case operLowerLayerDown:
		return "lowerlayerdown (no carrier)"
	case operTesting:
		return "testing"
	case operDormant:
		return "dormant"
	case operUp:
		return "up"
	}
	return fmt.Sprintf("state %d", s)
}

func (c *nlConn) linkByName(name string) (link, error) {
	return c.getLink(0, name)
}

func (c *nlConn) linkByIndex(index int) (link, error) {
	return c.getLink(index, fmt.Sprintf("with ifindex %d", index))
}

func (c *nlConn) getLink(index int, name string) (link, error) {
	body := make([]byte, unix.SizeofIfInfomsg) // family AF_UNSPEC
	var attrs []rtattr
	if index > 0 {
		binary.NativeEndian.PutUint32(body[4:], uint32(index))
	} else {
		attrs = append(attrs, rtattr{unix.IFLA_IFNAME, append([]byte(name), 0)})
	}
	msgs, err := c.request(unix.RTM_GETLINK, 0, body, attrs...)
	if err != nil {
		if errors.Is(err, unix.ENODEV) {
			return link{}, fmt.Errorf("interface %s not found", name)
		}
		return link{}, fmt.Errorf("look up interface %s: %w", name, err)
	}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		ne := binary.NativeEndian
		l := link{
			Type:  ne.Uint16(m.Data[2:]),
			Index: int(int32(ne.Uint32(m.Data[4:]))),
			Flags: ne.Uint32(m.Data[8:]),
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return link{}, fmt.Errorf("interface %s: parse: %w", name, err)
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				l.Name = cstring(a.Value)
			case unix.IFLA_ADDRESS:
				l.MAC = append(net.HardwareAddr(nil), a.Value...)
			case unix.IFLA_OPERSTATE:
				if len(a.Value) > 0 {
					l.OperState = a.Value[0]
				}
			}
		}
		return l, nil
	}
	return link{}, fmt.Errorf("interface %s not found", name)
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// ifaddr is one IPv4 address of an interface.
type ifaddr struct {
	Index  int
	Prefix netip.Prefix
}

func (c *nlConn) addrs4() ([]ifaddr, error) {
	body := make([]byte, unix.SizeofIfAddrmsg)
	body[0] = unix.AF_INET
	msgs, err := c.request(unix.RTM_GETADDR, unix.NLM_F_DUMP, body)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	var out []ifaddr
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg || m.Data[0] != unix.AF_INET {
			continue
		}
		bits := int(m.Data[1])
		index := int(binary.NativeEndian.Uint32(m.Data[4:]))
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, fmt.Errorf("list addresses: parse: %w", err)
		}
		var local, address []byte
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFA_LOCAL:
				local = a.Value
			case unix.IFA_ADDRESS:
				address = a.Value
			}
		}
		if local == nil {
			local = address
		}
		ip, ok := netip.AddrFromSlice(local)
		if !ok {
			continue
		}
		out = append(out, ifaddr{Index: index, Prefix: netip.PrefixFrom(ip.Unmap(), bits)})
	}
	return out, nil
}

func addrMsg(index int, p netip.Prefix) ([]byte, []rtattr) {
	body := make([]byte, unix.SizeofIfAddrmsg)
	body[0] = unix.AF_INET
	body[1] = byte(p.Bits())
	body[3] = unix.RT_SCOPE_UNIVERSE
	binary.NativeEndian.PutUint32(body[4:], uint32(index))
	a := p.Addr().As4()
	attrs := []rtattr{{unix.IFA_LOCAL, a[:]}, {unix.IFA_ADDRESS, a[:]}}
	return body, attrs
}

func (c *nlConn) addAddr(index int, p netip.Prefix) error {
	body, attrs := addrMsg(index, p)
	if p.Bits() <= 30 {
		// Like `ip addr add ... brd +`.
		a := p.Addr().As4()
		mask := ^uint32(0) >> p.Bits()
		v := binary.BigEndian.Uint32(a[:]) | mask
		var brd [4]byte
		binary.BigEndian.PutUint32(brd[:], v)
		attrs = append(attrs, rtattr{unix.IFA_BROADCAST, brd[:]})
	}
	_, err := c.request(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, body, attrs...)
	return err
}

func (c *nlConn) delAddr(index int, p netip.Prefix) error {
	body, attrs := addrMsg(index, p)
	_, err := c.request(unix.RTM_DELADDR, 0, body, attrs...)
	return err
}
