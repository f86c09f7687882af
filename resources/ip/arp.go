package ip

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

const (
	ethPARP      = 0x0806
	ethPIPv4     = 0x0800
	arpRequest   = 1
	arpFrameSize = 14 + 28
	minFrameSize = 60 // Ethernet minimum without FCS
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// garpFrame builds a gratuitous ARP request: broadcast, sender IP = target
// IP = ip, sender MAC = mac, target MAC zero; padded to 60 bytes.
func garpFrame(mac net.HardwareAddr, ip netip.Addr) []byte {
	b := make([]byte, minFrameSize)
	copy(b[0:6], broadcastMAC)
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:], ethPARP)
	a := b[14:]
	binary.BigEndian.PutUint16(a[0:], 1) // hardware type Ethernet
	binary.BigEndian.PutUint16(a[2:], ethPIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], arpRequest)
	ip4 := ip.As4()
	copy(a[8:14], mac)
	copy(a[14:18], ip4[:])
	// a[18:24] target MAC stays zero
	copy(a[24:28], ip4[:])
	return b
}

// arpPacket is a parsed Ethernet ARP frame (used by tests and logs).
type arpPacket struct {
	EthDst, EthSrc     net.HardwareAddr
	Op                 uint16
	SenderMAC          net.HardwareAddr
	SenderIP, TargetIP netip.Addr
	TargetMAC          net.HardwareAddr
}

func parseARP(b []byte) (arpPacket, bool) {
	if len(b) < arpFrameSize || binary.BigEndian.Uint16(b[12:]) != ethPARP {
		return arpPacket{}, false
	}
	a := b[14:]
	if binary.BigEndian.Uint16(a[0:]) != 1 || binary.BigEndian.Uint16(a[2:]) != ethPIPv4 || a[4] != 6 || a[5] != 4 {
		return arpPacket{}, false
	}
	return arpPacket{
		EthDst:    net.HardwareAddr(b[0:6]),
		EthSrc:    net.HardwareAddr(b[6:12]),
		Op:        binary.BigEndian.Uint16(a[6:]),
		SenderMAC: net.HardwareAddr(a[8:14]),
		SenderIP:  netip.AddrFrom4([4]byte(a[14:18])),
		TargetMAC: net.HardwareAddr(a[18:24]),
		TargetIP:  netip.AddrFrom4([4]byte(a[24:28])),
	}, true
}

// sendGratuitousARP sends count gratuitous ARP requests for ip out of l,
// interval apart, through an AF_PACKET socket opened on the calling
// goroutine (so in its thread's network namespace). It returns how many
// it sent.
func sendGratuitousARP(ctx context.Context, l link, ip netip.Addr, count int, interval time.Duration) (int, error) {
	if count <= 0 {
		return 0, nil
	}
	// Protocol 0: a send-only socket that receives nothing.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("gratuitous ARP: AF_PACKET socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(time.Second))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	frame := garpFrame(l.MAC, ip)
	to := &unix.SockaddrLinklayer{Protocol: htons(ethPARP), Ifindex: l.Index, Halen: 6}
	copy(to.Addr[:], broadcastMAC)
	sent := 0
	for i := 0; i < count; i++ {
		if i > 0 {
			t := time.NewTimer(interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return sent, fmt.Errorf("gratuitous ARP: %d of %d sent: %w", sent, count, ctx.Err())
			case <-t.C:
			}
		}
		if err := unix.Sendto(fd, frame, 0, to); err != nil {
			return sent, fmt.Errorf("gratuitous ARP on %s: %w", l.Name, err)
		}
		sent++
	}
	return sent, nil
}
