package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/bench"
)

func newForwardCmd() *cobra.Command {
	var listen, target string
	cmd := &cobra.Command{
		Use:   "forward",
		Short: "a hop that only forwards bytes (the floor of a proxy chain, for the suite)",
		Long: `forward accepts connections on --listen and joins each to a new
connection to --target, copying bytes both ways without looking at them.
An address with a '/' is a unix socket, anything else host:port.
It prints "listening on ADDR" once it listens, then runs until interrupted.

mosaic-bench suite runs two of them in a row in front of mysqld
(client -tcp-> forward -unix-> forward -unix-> mysqld), the path of a gate
and a tablet on one host, and compares them with mysqld directly: what any
two-hop proxy costs on the machine before it does any work.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on")
	cmd.Flags().StringVar(&target, "target", "", "address to forward to")
	cmd.MarkFlagRequired("target")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		l, err := net.Listen(addrNetwork(listen), listen)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "listening on %s\n", l.Addr())
		var d net.Dialer
		return bench.Forward(cmd.Context(), l, func(ctx context.Context) (net.Conn, error) {
			return d.DialContext(ctx, addrNetwork(target), target)
		})
	}
	return cmd
}

func addrNetwork(addr string) string {
	if strings.Contains(addr, "/") {
		return "unix"
	}
	return "tcp"
}

// forwardChain is two `mosaic-bench forward` processes in a row in front of
// a mysqld socket.
type forwardChain struct {
	addr string // the first hop's TCP address
	pids [2]int // first hop, second hop
	stop func()
}

// startForwardChain starts client -tcp-> hop1 -unix-> hop2 -unix-> mysqldSocket,
// each hop a child process of this binary with GOMAXPROCS procs.
func startForwardChain(ctx context.Context, mysqldSocket string, procs int) (*forwardChain, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mosaic-bench-forward-")
	if err != nil {
		return nil, err
	}
	fc := &forwardChain{}
	var cmds []*exec.Cmd
	fc.stop = func() {
		for _, c := range cmds {
			c.Process.Signal(os.Interrupt)
		}
		for _, c := range cmds {
			done := make(chan struct{})
			go func() { c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				c.Process.Kill()
				<-done
			}
		}
		os.RemoveAll(dir)
	}
	start := func(listen, target string) (string, int, error) {
		c := exec.CommandContext(ctx, exe, "forward", "--listen", listen, "--target", target)
		c.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
		c.Stderr = os.Stderr
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		out, err := c.StdoutPipe()
		if err != nil {
			return "", 0, err
		}
		if err := c.Start(); err != nil {
			return "", 0, err
		}
		cmds = append(cmds, c)
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			return "", 0, fmt.Errorf("forward hop did not start: %w", err)
		}
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
		if !ok {
			return "", 0, fmt.Errorf("forward hop said %q", line)
		}
		return addr, c.Process.Pid, nil
	}
	sock := filepath.Join(dir, "hop2.sock")
	if _, fc.pids[1], err = start(sock, mysqldSocket); err != nil {
		fc.stop()
		return nil, err
	}
	if fc.addr, fc.pids[0], err = start("127.0.0.1:0", sock); err != nil {
		fc.stop()
		return nil, err
	}
	return fc, nil
}

// childGOMAXPROCS is the GOMAXPROCS mosaic up gives its gate and tablets:
// a quarter of the cores, at least 1.
func childGOMAXPROCS() int {
	return max(1, runtime.NumCPU()/4)
}
