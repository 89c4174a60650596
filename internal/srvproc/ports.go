package srvproc

import (
	"fmt"
	"net"
)

// FreePorts returns n loopback TCP ports that were free a moment ago.
// Another process may take one before the server binds it, so a caller
// retries with fresh ports when the bind fails.
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
