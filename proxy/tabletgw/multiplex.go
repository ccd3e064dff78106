package tabletgw

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Execute calls travel to a tablet as messages on a few long-lived
// Multiplex streams instead of one HTTP/2 stream each: a unary call costs
// the gate and the tablet a stream's headers, trailers, context and
// dispatch, which on a point select is as much CPU as the rest of the
// call. See MultiplexRequest in proto/query.proto for the protocol.
//
// What a caller sees is what a unary Execute gives: the tablet's MySQL
// error, retryable when the statement did not run. A call fails
// retryable when its request could not be sent, or when the tablet ended
// the stream cleanly without answering it (it shuts down: it answers every
// call it started first); when the stream breaks otherwise (the tablet
// died, the connection dropped) the unanswered calls fail without retry,
// as a unary call that was sent does. A cancelled call returns at once
// and tells the tablet, which kills its statement.
//
// A large result is one message on the stream and delays the others
// behind it: statements whose results are large stream them
// (StreamExecute, see smallresult.go), and a request over
// muxMaxRequestBytes goes unary.

// muxMaxRequestBytes is the largest statement sent on a Multiplex stream;
// a bigger one (a bulk INSERT) is a unary call, so as not to hold up the
// others while it is sent.
const muxMaxRequestBytes = 64 << 10

// tabletClient is the gate's client of one tablet: Execute is
// multiplexed, every other call is the generated client's.
type tabletClient struct {
	querypb.QueryClient
	mux *muxClient
}

// Execute implements querypb.QueryClient.
func (c *tabletClient) Execute(ctx context.Context, req *querypb.ExecuteRequest, opts ...grpc.CallOption) (*querypb.ExecuteResponse, error) {
	if c.mux == nil || len(opts) > 0 || len(req.Sql) > muxMaxRequestBytes || c.mux.unsupported.Load() {
		return c.QueryClient.Execute(ctx, req, opts...)
	}
	resp, err := c.mux.execute(ctx, req)
	if errors.Is(err, errMuxUnsupported) {
		return c.QueryClient.Execute(ctx, req)
	}
	return resp, err
}

// errMuxUnsupported fails the calls of a stream the tablet refused: it
// has no Multiplex method (an older tablet). They did not run.
var errMuxUnsupported = errors.New("tablet does not multiplex")

// muxClient holds the Multiplex streams to one tablet, opened when first
// used and again after one breaks. Safe for concurrent use.
type muxClient struct {
	client querypb.QueryClient
	next   atomic.Uint32
	// unsupported is set once the tablet refused the method: calls go
	// unary from then on.
	unsupported atomic.Bool

	// calls pools *muxCall.
	calls sync.Pool

	mu      sync.Mutex
	streams []*muxStream // nil or broken entries are replaced when used
	closed  bool
	// recv tracks the streams' receiving goroutines and the sending of
	// cancellations.
	recv sync.WaitGroup
}

func newMuxClient(client querypb.QueryClient, streams int) *muxClient {
	c := &muxClient{client: client, streams: make([]*muxStream, streams)}
	c.calls.New = func() any { return &muxCall{done: make(chan muxResult, 1)} }
	return c
}

// close breaks every stream (their calls fail) and waits for their
// receiving goroutines.
func (c *muxClient) close() {
	c.mu.Lock()
	c.closed = true
	streams := c.streams
	c.streams = nil
	c.mu.Unlock()
	for _, ms := range streams {
		if ms != nil {
			ms.cancel()
		}
	}
	c.recv.Wait()
}

// breakStreams breaks every stream: their waiting calls fail, and later
// calls open new streams. The health check calls it when the tablet's
// health stream went silent: the connection is probably dead, and a send
// may be stuck behind it.
func (c *muxClient) breakStreams() {
	c.mu.Lock()
	streams := slices.Clone(c.streams)
	c.mu.Unlock()
	for _, ms := range streams {
		if ms != nil {
			ms.cancel()
		}
	}
}

// pick returns a working stream, opening one if needed.
func (c *muxClient) pick(ctx context.Context) (*muxStream, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, sqlerr.NotServing("tablet connection closed, statement not sent")
	}
	i := int(c.next.Add(1)) % len(c.streams)
	ms := c.streams[i]
	c.mu.Unlock()
	if ms != nil && ms.usable() {
		return ms, nil
	}
	nms, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		nms.cancel()
		return nil, sqlerr.NotServing("tablet connection closed, statement not sent")
	}
	if cur := c.streams[i]; cur != nil && cur != ms && cur.usable() {
		// Another call opened one meanwhile: use it, drop ours.
		nms.cancel()
		return cur, nil
	}
	c.streams[i] = nms
	c.recv.Add(1)
	go nms.receive()
	return nms, nil
}

// open opens a stream. ctx bounds the opening only: the stream lives
// until it breaks or the client closes.
func (c *muxClient) open(ctx context.Context) (*muxStream, error) {
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	st, err := c.client.Multiplex(sctx)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, err
	}
	return &muxStream{c: c, st: st, cancel: cancel, sendSem: make(chan struct{}, 1), pending: map[uint64]*muxCall{}, ended: make(chan struct{})}, nil
}

// execute runs one call on a stream.
func (c *muxClient) execute(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	ms, err := c.pick(ctx)
	if err != nil {
		return nil, err
	}
	return ms.call(ctx, req)
}

// muxStream is one Multiplex stream and its calls awaiting an answer.
type muxStream struct {
	c      *muxClient
	st     grpc.BidiStreamingClient[querypb.MultiplexRequest, querypb.MultiplexResponse]
	cancel context.CancelFunc
	// sendSem serializes sends (gRPC allows one SendMsg at a time); a
	// channel so that a waiting call can give up.
	sendSem chan struct{}

	mu      sync.Mutex
	lastID  uint64
	pending map[uint64]*muxCall
	broken  bool
	// ended is closed once the stream has ended and its waiting calls
	// have failed.
	ended chan struct{}
}

// muxCall is a call waiting for its answer. Calls are pooled: one goes
// back to the pool only once its done channel is empty and no answer can
// reach it any more (it left the pending map).
type muxCall struct {
	done chan muxResult
	// req is the message the call sends: SendMsg has encoded it when it
	// returns, so it is reused with the call.
	req querypb.MultiplexRequest
}

type muxResult struct {
	resp *querypb.ExecuteResponse
	err  error
}

func (ms *muxStream) usable() bool {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return !ms.broken
}

// call sends req and waits for its answer or for ctx to end.
func (ms *muxStream) call(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	call := ms.c.calls.Get().(*muxCall)
	ms.mu.Lock()
	if ms.broken {
		ms.mu.Unlock()
		ms.c.calls.Put(call)
		return nil, sqlerr.NotServing("tablet query stream broken, statement not sent")
	}
	ms.lastID++
	id := ms.lastID
	ms.pending[id] = call
	ms.mu.Unlock()

	m := &call.req
	m.Id, m.Execute, m.TimeoutNs = id, req, 0
	if dl, ok := ctx.Deadline(); ok {
		m.TimeoutNs = max(int64(time.Until(dl)), 1)
	}
	err := ms.send(ctx, m)
	m.Execute = nil
	if err != nil {
		ms.drop(id, call)
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		// SendMsg fails (io.EOF) once the stream has ended: the request
		// did not go out. The stream's end says whether the tablet has
		// the method at all.
		<-ms.ended
		if ms.c.unsupported.Load() {
			return nil, errMuxUnsupported
		}
		return nil, sqlerr.NotServing("tablet query stream ended, statement not sent: %v", err)
	}
	select {
	case r := <-call.done:
		ms.c.calls.Put(call)
		return r.resp, r.err
	case <-ctx.Done():
	}
	if !ms.forget(id) {
		// The answer came, or the stream broke, just now.
		r := <-call.done
		ms.c.calls.Put(call)
		return r.resp, r.err
	}
	ms.c.calls.Put(call)
	// Interrupt the statement on the tablet; its answer will be dropped.
	ms.sendCancel(id)
	return nil, status.FromContextError(ctx.Err()).Err()
}

// drop forgets a call that gives up and returns it to the pool, once
// any answer handed to it meanwhile has been taken out.
func (ms *muxStream) drop(id uint64, call *muxCall) {
	if !ms.forget(id) {
		<-call.done
	}
	ms.c.calls.Put(call)
}

// send sends one message, waiting for the sends before it no longer than
// ctx allows. A send itself blocks only when the stream's flow-control
// window is full, that is when the tablet stopped reading (it hangs, or
// its host went away): the health check then finds its health stream
// silent and breaks the tablet's streams (breakStreams), which ends the
// send.
func (ms *muxStream) send(ctx context.Context, m *querypb.MultiplexRequest) error {
	select {
	case ms.sendSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := ms.st.SendMsg(m)
	<-ms.sendSem
	return err
}

// cancelSendTimeout bounds the sending of a cancellation.
const cancelSendTimeout = 2 * time.Second

// sendCancel tells the tablet that the call id was given up, in the
// background: the caller returns at once.
func (ms *muxStream) sendCancel(id uint64) {
	c := ms.c
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.recv.Add(1)
	c.mu.Unlock()
	go func() {
		defer ms.c.recv.Done()
		ctx, cancel := context.WithTimeout(context.Background(), cancelSendTimeout)
		defer cancel()
		_ = ms.send(ctx, &querypb.MultiplexRequest{Id: id, Cancel: true})
	}()
}

// forget removes a call that will not wait for its answer any more; it
// reports whether the call was still waiting.
func (ms *muxStream) forget(id uint64) bool {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if _, ok := ms.pending[id]; !ok {
		return false
	}
	delete(ms.pending, id)
	return true
}

// receive hands each answer to its call until the stream ends, then
// fails the calls still waiting.
func (ms *muxStream) receive() {
	defer ms.c.recv.Done()
	for {
		resp, err := ms.st.Recv()
		if err != nil {
			ms.fail(err)
			return
		}
		ms.mu.Lock()
		call := ms.pending[resp.Id]
		delete(ms.pending, resp.Id)
		ms.mu.Unlock()
		if call == nil {
			continue // cancelled meanwhile
		}
		var r muxResult
		switch {
		case resp.Error != nil:
			r.err = sqlerr.FromProto(resp.Error)
		case resp.Execute != nil:
			r.resp = resp.Execute
		default:
			r.resp = &querypb.ExecuteResponse{}
		}
		call.done <- r
	}
}

// fail marks the stream broken and fails its waiting calls with what its
// end says about them.
func (ms *muxStream) fail(err error) {
	ms.mu.Lock()
	ms.broken = true
	pending := ms.pending
	ms.pending = nil
	ms.mu.Unlock()
	ms.cancel()
	var callErr error
	switch {
	case errors.Is(err, io.EOF):
		// The tablet answers every call it starts before it ends the
		// stream itself: these never ran.
		callErr = sqlerr.NotServing("tablet closed its query stream, statement not run")
	case status.Code(err) == codes.Unimplemented:
		ms.c.unsupported.Store(true)
		callErr = errMuxUnsupported
	default:
		callErr = sqlerr.NotRetryable(err)
	}
	for _, call := range pending {
		call.done <- muxResult{err: callErr}
	}
	close(ms.ended)
}
