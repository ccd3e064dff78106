package testports

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// Low and High bound the ports handed out: [Low, High).
const (
	Low  = 10000
	High = 15000
)

// given holds every port handed out in this process, with the lock file
// that claims it machine-wide. It is process-wide on purpose: the ports
// are a process-wide resource, and the locks must live as long as the
// process.
var (
	mu    sync.Mutex
	given = map[int]*os.File{}
)

// Free returns n distinct ports that were free a moment ago and that no
// earlier call, in this process or another one using this package,
// returned.
func Free(n int) ([]int, error) {
	mu.Lock()
	defer mu.Unlock()
	var ports []int
	start := Low + rand.IntN(High-Low)
	for i := 0; i < High-Low && len(ports) < n; i++ {
		p := Low + (start-Low+i)%(High-Low)
		if claimLocked(p) {
			ports = append(ports, p)
		}
	}
	if len(ports) < n {
		return nil, fmt.Errorf("testports: no %d free ports in [%d, %d)", n, Low, High)
	}
	return ports, nil
}

// Claim records port p as given out if it is free now and was not given
// before, here or in another process, and reports whether it was. p may
// lie outside [Low, High).
func Claim(p int) bool {
	mu.Lock()
	defer mu.Unlock()
	return claimLocked(p)
}

func claimLocked(p int) bool {
	if _, ok := given[p]; ok {
		return false
	}
	f, ok := lockPort(p)
	if !ok {
		return false
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		f.Close() // drops the lock: someone outside tests holds the port
		return false
	}
	l.Close()
	given[p] = f
	return true
}

// lockPort takes the machine-wide claim on p: an exclusive, non-blocking
// flock on its file, kept open (and so held) until the process exits.
func lockPort(p int) (*os.File, bool) {
	dir := filepath.Join(os.TempDir(), "mosaic-testports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, false
	}
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%d.lock", p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return f, true
}

// Addr returns "127.0.0.1:<port>" for one port from Free.
func Addr() (string, error) {
	ports, err := Free(1)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0]), nil
}

// Listen listens on a port from Free, on 127.0.0.1.
func Listen() (net.Listener, error) {
	addr, err := Addr()
	if err != nil {
		return nil, err
	}
	return net.Listen("tcp", addr)
}
