package tablet

import (
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
)

// grpcServerOptions tune the tablet's gRPC server for many small calls.
func grpcServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		// Statements and rows may be as large as mysqld's
		// max_allowed_packet (1 GiB): gRPC's default 4 MiB limit would
		// refuse a big INSERT.
		grpc.MaxRecvMsgSize(maxGRPCMessage),
		// Fixed flow-control windows turn off the bandwidth-delay
		// estimator, which otherwise pings the gate for nearly every
		// request it receives.
		grpc.InitialWindowSize(1 << 20),
		grpc.InitialConnWindowSize(16 << 20),
		// Calls run on long-lived worker goroutines whose stacks have
		// already grown, instead of a fresh goroutine (and several stack
		// copies) per call. Long streams (StreamHealth) hold a worker; when
		// every worker is busy a call gets a goroutine of its own.
		grpc.NumStreamWorkers(32),
	}
}

// listenGRPCSocket listens on the tablet's unix-domain gRPC socket; path ""
// means none (nil listener). A socket file left by a tablet that died is
// replaced; one another process still listens on is an error.
func listenGRPCSocket(path string) (net.Listener, error) {
	if path == "" {
		return nil, nil
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("grpc socket %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("grpc socket %s is in use by another process", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale grpc socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen for grpc on %s: %w", path, err)
	}
	return l, nil
}
