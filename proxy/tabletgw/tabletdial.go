package tabletgw

import (
	"context"
	"net"
	"sync"
	"sync/atomic"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sysconn"
)

// tabletDialer connects the gate to one tablet: through the unix-domain
// socket the tablet publishes when the tablet runs on the gate's host (the
// same sysconn.HostID) and the gate can open it, otherwise by TCP to its
// gRPC port. On loopback a unix socket costs each side a few µs less per
// message than TCP, whose every write also runs the receiver's TCP input
// path.
//
// Same host is not proof of the same tablet: containers share a kernel
// but not files, and a path one tablet publishes may name another
// tablet's socket in the gate's view. The health stream checks the alias
// the tablet gives; on a mismatch it calls giveUpSocket, and every later
// dial uses TCP.
type tabletDialer struct {
	addr   string // host:port of the gRPC port
	sock   string // "" : TCP only
	noSock atomic.Bool

	mu      sync.Mutex
	sockCon net.Conn // the open socket connection, if the last dial made one
}

func newTabletDialer(t *topodatapb.Tablet, hostID string) *tabletDialer {
	d := &tabletDialer{addr: tabletAddr(t)}
	if hostID != "" && t.GetHostId() == hostID && t.GetGrpcSocket() != "" {
		d.sock = t.GetGrpcSocket()
	}
	return d
}

// key is what a change of the tablet's record must change to need a new
// connection.
func (d *tabletDialer) key() string { return d.addr + " " + d.sock }

// dial is the gRPC context dialer; the address gRPC passes is d.addr.
func (d *tabletDialer) dial(ctx context.Context, _ string) (net.Conn, error) {
	var nd net.Dialer
	if d.sock != "" && !d.noSock.Load() {
		// A socket the gate cannot open (another container's file, a
		// tablet restarting) is no error: TCP is tried next.
		if c, err := nd.DialContext(ctx, "unix", d.sock); err == nil {
			d.mu.Lock()
			d.sockCon = c
			d.mu.Unlock()
			return sysconn.Wrap(c), nil
		}
	}
	c, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.sockCon = nil
	d.mu.Unlock()
	return sysconn.Wrap(c), nil
}

// transport names how the gate reaches the tablet now: "unix" or "tcp".
func (d *tabletDialer) transport() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sockCon != nil {
		return "unix"
	}
	return "tcp"
}

// giveUpSocket makes every later dial use TCP and closes the socket
// connection, if one is open, so that gRPC dials again; it reports whether
// there was one.
func (d *tabletDialer) giveUpSocket() bool {
	d.noSock.Store(true)
	d.mu.Lock()
	c := d.sockCon
	d.sockCon = nil
	d.mu.Unlock()
	if c == nil {
		return false
	}
	c.Close()
	return true
}
