package queryservice

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Multiplexed Execute calls (the Multiplex RPC): a unary call costs a
// whole HTTP/2 stream (headers, trailers, a context with metadata, a
// handler dispatch), which on a point select is as much CPU as the query
// itself. On a Multiplex stream a call is one request message and one
// response message. The stream's calls run on worker goroutines of the
// stream, which wait for the next call once theirs is answered; their
// responses share the stream, one Send at a time.
//
// The contract with the gate (see MultiplexRequest in query.proto): every
// call the tablet starts is answered before the stream ends, unless the
// gate cancelled it; when the tablet ends the stream itself (shutdown,
// StopMultiplex) it returns OK, and calls it never started are left
// unanswered, so the gate knows they did not run.

// Multiplex implements querypb.QueryServer.
func (s *Service) Multiplex(stream grpc.BidiStreamingServer[querypb.MultiplexRequest, querypb.MultiplexResponse]) error {
	m := &muxServer{
		s:      s,
		stream: stream,
		ctx:    stream.Context(),
		calls:  map[uint64]*muxCall{},
		work:   make(chan *muxCall),
		done:   make(chan struct{}),
	}
	// The receiving goroutine ends with the stream: gRPC cancels the
	// stream when this handler returns, which ends its Recv.
	recvErr := make(chan error, 1)
	go func() { recvErr <- m.receive() }()
	var err error
	select {
	case err = <-recvErr:
	case <-s.muxStop:
	}
	m.stop()
	if err == nil || errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
		return nil
	}
	return err
}

// StopMultiplex ends every Multiplex stream once its running calls are
// answered, and every later one at once: calls that arrive after it are
// not run, and the gate sends them elsewhere. The tablet calls it when it
// shuts down, before its gRPC server's graceful stop (which would wait
// for the streams forever).
func (s *Service) StopMultiplex() {
	s.muxStopOnce.Do(func() { close(s.muxStop) })
}

// muxServer is one Multiplex stream on the tablet.
type muxServer struct {
	s      *Service
	stream grpc.BidiStreamingServer[querypb.MultiplexRequest, querypb.MultiplexResponse]
	ctx    context.Context

	sendMu sync.Mutex

	mu      sync.Mutex
	stopped bool
	calls   map[uint64]*muxCall
	running sync.WaitGroup // calls started and not answered

	work    chan *muxCall // to an idle worker
	done    chan struct{} // closed when the workers may exit
	workers sync.WaitGroup
}

// muxCall is one call on a Multiplex stream.
type muxCall struct {
	id     uint64
	req    *querypb.ExecuteRequest
	ctx    context.Context
	cancel context.CancelFunc
	// canceled is set (under muxServer.mu) when the gate cancelled it.
	canceled bool
}

// receive reads requests until the stream ends or the server stops.
func (m *muxServer) receive() error {
	for {
		req, err := m.stream.Recv()
		if err != nil {
			return err
		}
		switch {
		case req.Cancel:
			m.cancel(req.Id)
		case req.Execute == nil:
			m.send(&querypb.MultiplexResponse{Id: req.Id, Error: m.s.failed(sqlerr.New(sqlerr.ERUnknown, "multiplexed request without a call")).Proto()})
		default:
			if !m.start(req) {
				return nil
			}
		}
	}
}

// start registers a call and hands it to a worker; false when the stream
// has stopped (the call is not run).
func (m *muxServer) start(req *querypb.MultiplexRequest) bool {
	c := &muxCall{id: req.Id, req: req.Execute}
	// One context per call: the gate's cancel and the stream's end
	// cancel it; the tighter of the caller's deadline and the query's
	// timeout bounds it.
	d := m.s.queryTimeout(req.Execute.Options)
	if req.TimeoutNs > 0 {
		d = min(d, time.Duration(req.TimeoutNs))
	}
	c.ctx, c.cancel = context.WithTimeout(m.ctx, d)
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		c.cancel()
		return false
	}
	m.calls[c.id] = c
	m.running.Add(1)
	m.mu.Unlock()
	select {
	case m.work <- c:
	default:
		m.workers.Add(1)
		go m.worker(c)
	}
	return true
}

// worker runs calls until the stream is done.
func (m *muxServer) worker(c *muxCall) {
	defer m.workers.Done()
	// out is the worker's response message, reused: Send has encoded it
	// when it returns.
	out := &querypb.MultiplexResponse{}
	for {
		m.run(c, out)
		select {
		case c = <-m.work:
		case <-m.done:
			return
		}
	}
}

func (m *muxServer) run(c *muxCall, out *querypb.MultiplexResponse) {
	defer m.running.Done()
	resp, e := m.s.executeBounded(c.ctx, c.req)
	c.cancel()
	m.mu.Lock()
	delete(m.calls, c.id)
	canceled := c.canceled
	m.mu.Unlock()
	if canceled {
		// The gate has forgotten the call.
		return
	}
	out.Id, out.Execute, out.Error = c.id, resp, nil
	if e != nil {
		out.Execute, out.Error = nil, e.Proto()
	}
	m.send(out)
	out.Execute, out.Error = nil, nil
}

// send sends one response. A failed Send means the stream is gone, which
// the receiving side sees too.
func (m *muxServer) send(r *querypb.MultiplexResponse) {
	m.sendMu.Lock()
	_ = m.stream.Send(r)
	m.sendMu.Unlock()
}

// cancel interrupts a running call.
func (m *muxServer) cancel(id uint64) {
	m.mu.Lock()
	c := m.calls[id]
	if c != nil {
		c.canceled = true
	}
	m.mu.Unlock()
	if c != nil {
		c.cancel()
	}
}

// stop starts no more calls, waits until the running ones are answered,
// and lets the workers go.
func (m *muxServer) stop() {
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	m.running.Wait()
	close(m.done)
	m.workers.Wait()
}
