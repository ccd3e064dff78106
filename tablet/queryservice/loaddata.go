package queryservice

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// LoadData implements querypb.QueryServer: it runs the first message's
// LOAD DATA LOCAL INFILE statement and feeds mysqld the data of every
// message until the caller closes its side. Only the request's own
// timeout_ms (or the caller's deadline) bounds it, as a stream.
func (s *Service) LoadData(stream grpc.ClientStreamingServer[querypb.LoadDataRequest, querypb.LoadDataResponse]) error {
	start := time.Now()
	first, err := stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return s.fail(sqlerr.New(sqlerr.ERWrongArguments, "LoadData: no request"))
		}
		return err
	}
	if first.TransactionId == 0 {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
	}
	if err := s.checkTarget(first.Target, false); err != nil {
		return s.fail(err)
	}
	if err := s.checkDenied(first.Sql); err != nil {
		return s.fail(err)
	}
	ctx := stream.Context()
	if ms := first.Options.GetTimeoutMs(); ms > 0 {
		var cancel func()
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	pending := first.Data
	next := func() ([]byte, error) {
		if len(pending) > 0 {
			d := pending
			pending = nil
			return d, nil
		}
		for {
			m, err := stream.Recv()
			if err != nil {
				return nil, err // io.EOF ends the file
			}
			if len(m.Data) > 0 {
				return m.Data, nil
			}
		}
	}
	var res *querypb.QueryResult
	run := func(pc *PooledConn) error {
		var err error
		res, err = pc.LoadData(first.Sql, next)
		addWarnings(pc, res)
		return err
	}
	if first.TransactionId != 0 {
		var tc *txConn
		if tc, err = s.txs.getStmt(first.TransactionId); err == nil {
			err = s.killer.run(ctx, tc.conn, func() error { return run(tc.conn) })
			err = s.txs.done(tc, err)
		}
	} else {
		var pc *PooledConn
		if pc, err = s.pool.GetFor(ctx, first.Options); err == nil {
			err = s.killer.run(ctx, pc, func() error { return run(pc) })
			pc.Recycle()
		}
	}
	s.record(stmtInsert, start)
	if err != nil {
		return s.fail(err)
	}
	return stream.SendAndClose(&querypb.LoadDataResponse{Result: res})
}
