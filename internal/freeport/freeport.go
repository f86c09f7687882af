// Package freeport picks loopback TCP ports that were free a moment ago,
// for tests and the local demo cluster.
package freeport

import "net"

// Loopback returns n distinct ports on 127.0.0.1 that were free a moment
// ago. All n listeners stay open until every port is picked, so the kernel
// cannot hand out the same port twice; another process may still take one
// before the caller binds it.
func Loopback(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
