package proxy

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
)

// flakyListener fails its first accepts as a process out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// A failed accept (out of file descriptors under a flood of connections)
// does not stop the gate: it waits a little and accepts again.
func TestAcceptErrorsDoNotStopTheGate(t *testing.T) {
	var fl *flakyListener
	tg := startTestGateWith(t, nil, func(g *Gate) {
		fl = &flakyListener{Listener: g.listener}
		fl.fails.Store(5)
		g.listener = fl
	})
	if err := tg.connect(t).Ping(); err != nil {
		t.Fatalf("after failed accepts: %v", err)
	}
	if n := fl.fails.Load(); n > 0 {
		t.Fatalf("%d failures left: the connection did not go through them", n)
	}
}
