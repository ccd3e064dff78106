package tabletgw

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// A call to a tablet that fails before it reaches the tablet (no
// connection: the tablet is gone, restarting or unreachable) did not run,
// so the gate may send it elsewhere, or buffer it until a new primary
// serves. gRPC sets a call's peer only once the call has a transport
// stream; a call that fails Unavailable without one was never sent.

// unsentUnary marks unary calls that were never sent as retryable.
func unsentUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	var p peer.Peer
	err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Peer(&p))...)
	if err != nil && p.Addr == nil && status.Code(err) == codes.Unavailable {
		return unsentErr(err)
	}
	return err
}

// unsentStream marks streams that could not be opened as retryable.
func unsentStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	var p peer.Peer
	cs, err := streamer(ctx, desc, cc, method, append(opts, grpc.Peer(&p))...)
	if err != nil && p.Addr == nil && status.Code(err) == codes.Unavailable {
		return nil, unsentErr(err)
	}
	return cs, err
}

func unsentErr(err error) error {
	return sqlerr.NotServing("tablet unreachable, statement not sent: %s", status.Convert(err).Message())
}
