package tablet

import (
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
