package testports

import (
	"fmt"
	"net"
	"sync"
)

// given holds every port handed out in this process. It is process-wide
// on purpose: the ports are a process-wide resource.
var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Free returns n distinct ports that were free a moment ago and that no
// earlier call returned.
func Free(n int) ([]int, error) {
	mu.Lock()
	defer mu.Unlock()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("testports: no %d unused free ports", n)
		}
		// Each listener stays open until the end, so the kernel does not
		// offer its port again within this call.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		p := l.Addr().(*net.TCPAddr).Port
		if given[p] {
			continue
		}
		given[p] = true
		ports = append(ports, p)
	}
	return ports, nil
}

// Claim records port p as given out if it is free now and was not given
// before, and reports whether it was.
func Claim(p int) bool {
	mu.Lock()
	defer mu.Unlock()
	if given[p] {
		return false
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	l.Close()
	given[p] = true
	return true
}
