package vrepl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// stream is one (workflow, source shard) pair of this target shard.
type stream struct {
	e        *Engine
	wf       *vreplicationpb.Workflow
	source   string
	sourceKR *topodatapb.KeyRange
	rules    []*vreplicationpb.TableRule
	log      *slog.Logger
	m        *streamMetrics

	mu sync.Mutex
	rt streamRuntime
	// moved is closed (and replaced) whenever the applied position moves.
	moved chan struct{}
}

// streamRuntime is what a running stream knows beyond its stored state.
type streamRuntime struct {
	phase        string
	table        string
	rowsCopied   int64
	rowsTotal    int64
	txns         int64
	pos          Position
	message      string
	lagAt        time.Time
	sourceTablet *topodatapb.TabletAlias
	rate         float64
	rateAt       time.Time
	rateRows     int64
	attempt      int
}

func newStream(e *Engine, wf *vreplicationpb.Workflow, source string, sourceKR *topodatapb.KeyRange, rules []*vreplicationpb.TableRule) *stream {
	return &stream{
		e: e, wf: wf, source: source, sourceKR: sourceKR, rules: rules,
		log:   e.log.With("workflow", wf.Name, "source_shard", source),
		m:     e.metrics.forStream(wf.Name, source),
		moved: make(chan struct{}),
	}
}

// filters are the stream's tables as a source applies them.
func (s *stream) filters(names []string) []*vreplicationpb.TableFilter {
	var out []*vreplicationpb.TableFilter
	for _, r := range s.rules {
		if names != nil && !containsFold(names, r.Name) {
			continue
		}
		out = append(out, &vreplicationpb.TableFilter{Name: r.Name, VindexType: r.VindexType, VindexColumn: r.VindexColumn, Pinned: r.Pinned, SkipNulls: r.Lookup != nil})
	}
	return out
}

func containsFold(names []string, n string) bool {
	for _, x := range names {
		if strings.EqualFold(x, n) {
			return true
		}
	}
	return false
}

func (s *stream) ruleNames() []string {
	out := make([]string, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.Name
	}
	return out
}

// run runs the stream until ctx ends, retrying after errors. A fatal
// error (DDL, schemas that differ) stops it until its record changes.
func (s *stream) run(ctx context.Context) {
	delay := s.e.cfg.RetryDelay
	for ctx.Err() == nil {
		start := time.Now()
		err := s.runOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			delay = s.e.cfg.RetryDelay
			continue
		}
		if time.Since(start) > time.Minute {
			delay = s.e.cfg.RetryDelay
		}
		s.m.errors.Inc()
		s.setError(err)
		var fe *fatalError
		if errors.As(err, &fe) {
			s.log.Error("stream stopped", "err", err)
			// Its status says so as its stored state does: a caller
			// waiting for it (lookup create) tells it from a retry.
			s.setError(errors.New("stopped: " + err.Error()))
			s.saveMessage(ctx, "stopped: "+err.Error())
			<-ctx.Done()
			return
		}
		s.log.Warn("stream failed; retrying", "err", err, "pause", delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
		delay = min(delay*2, s.e.cfg.MaxRetryDelay)
	}
}

// runOnce opens the target, reads or makes the stored state and runs one
// copy cycle, or the binlog until an error.
func (s *stream) runOnce(ctx context.Context) error {
	a, done, err := dialTarget(ctx, s.e.acc, s.e.db, 2*s.e.cfg.RowBatchBytes)
	if err != nil {
		return err
	}
	defer done()
	tables, err := s.targetTables(a.conn)
	if err != nil {
		return fatalf("target schema: %w", err)
	}
	for _, r := range s.rules {
		if r.Lookup != nil {
			// Gates write the same entries in READ COMMITTED side
			// transactions: no gap locks here either.
			if err := a.conn.Exec("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"); err != nil {
				return err
			}
			break
		}
	}
	st, err := s.prepareState(a)
	if err != nil {
		return err
	}
	s.setState(st)
	if st.phase == phaseCopying {
		return s.copyCycle(ctx, a, tables, &st)
	}
	return s.replicate(ctx, a, tables, &st, Position{})
}

// prepareState returns the stored state, making it first when there is
// none or the record's epoch is newer (a restart from given positions).
func (s *stream) prepareState(a *applier) (streamState, error) {
	st, ok, err := loadState(a.conn, s.wf.Name, s.source)
	if err != nil {
		return st, err
	}
	if ok && st.epoch >= s.wf.Epoch {
		return st, nil
	}
	var stmts []string
	if s.wf.Epoch > 0 {
		start, err := ParsePosition(s.wf.StartPositions[s.source])
		if err != nil {
			return st, fatalf("start position of %s: %w", s.source, err)
		}
		if start.IsZero() {
			return st, fatalf("workflow %s epoch %d names no start position for source shard %s", s.wf.Name, s.wf.Epoch, s.source)
		}
		stmts = initStatements(s.wf.Name, s.source, s.wf.Epoch, start, nil)
		s.log.Info("stream starts from a given position", "position", start, "epoch", s.wf.Epoch)
	} else {
		stmts = initStatements(s.wf.Name, s.source, 0, Position{}, s.ruleNames())
		s.log.Info("stream starts copying", "tables", len(s.rules))
	}
	// The streams of a workflow start together, and their new rows can
	// deadlock on the state table's key gaps: try again at once.
	for attempt := 0; ; attempt++ {
		err := a.inTx(stmts...)
		var se *sqlerr.Error
		if err != nil && errors.As(err, &se) && se.Num == sqlerr.ERDeadlock && attempt < 5 {
			continue
		}
		if err != nil {
			return st, fmt.Errorf("store new stream state: %w", err)
		}
		break
	}
	st, _, err = loadState(a.conn, s.wf.Name, s.source)
	return st, err
}

// copyCycle copies rows from one snapshot for up to CopyCycle: it opens
// the snapshot, applies the binlog up to exactly its position, then
// inserts its rows, each batch in one transaction with the new last key.
func (s *stream) copyCycle(ctx context.Context, a *applier, tables map[string]*Table, st *streamState) error {
	if len(st.copy) == 0 {
		return s.setPhase(a, st, phaseRunning)
	}
	src, err := s.e.dialSource(ctx, s.wf.SourceKeyspace, s.source, s.sourceChoice())
	if err != nil {
		return err
	}
	defer src.close()
	s.setSourceTablet(src.tablet.Alias)
	names := make([]string, len(st.copy))
	for i, ct := range st.copy {
		names[i] = ct.name
	}
	req := &vreplicationpb.StreamRowsRequest{Tables: s.filters(names), KeyRange: s.e.kr, MinPosition: st.pos.String()}
	first := st.copy[0]
	if first.lastpk != nil {
		req.Lastpk = mysqlconn.EncodeRow(first.lastpk)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rs, err := src.client.StreamRows(cctx, req)
	if err != nil {
		return fmt.Errorf("open row stream on %s: %w", src.name(), err)
	}
	msg, err := rs.Recv()
	if err != nil {
		return fmt.Errorf("row stream on %s: %w", src.name(), grpcFatal(err))
	}
	snap, err := ParsePosition(msg.Position)
	if err != nil {
		return err
	}
	if st.rowsTotal == 0 {
		st.rowsTotal = s.estimate(msg.TableRows)
		if err := a.inTx(fmt.Sprintf("UPDATE _mosaic.vreplication SET rows_total = %d WHERE %s", st.rowsTotal, stateKey(s.wf.Name, s.source))); err != nil {
			return err
		}
		s.setState(*st)
	}
	// Bring the copied rows to the snapshot's point. Before the first row
	// is copied nothing in the binlog concerns this target yet.
	started := first.lastpk != nil || st.copy[0].seq > 0 || len(st.copy) < len(s.rules)
	if started {
		if err := s.replicate(ctx, a, tables, st, snap); err != nil {
			return err
		}
	} else if !st.pos.Equal(snap) {
		if err := a.inTx("UPDATE _mosaic.vreplication SET pos = " + sqlString(snap.String()) + " WHERE " + stateKey(s.wf.Name, s.source)); err != nil {
			return err
		}
		st.pos = snap
		s.setPos(snap, time.Time{})
	}
	if !st.pos.Equal(snap) {
		return fmt.Errorf("catch-up ended at %s, not at the snapshot's %s", st.pos, snap)
	}
	s.log.Info("copying rows", "table", first.name, "snapshot", snap)
	deadline := time.Now().Add(s.e.cfg.CopyCycle)
	limit := newRateLimit(s.e.cfg.CopyRowsPerSecond)
	var t *Table
	// lk: the table being copied is a lookup's owner.
	var lk *eventTable
	// load: t's rows go in with LOAD DATA (loadable), not INSERTs.
	var load bool
	for {
		msg, err := rs.Recv()
		if err == io.EOF {
			if len(st.copy) == 0 {
				return s.setPhase(a, st, phaseRunning)
			}
			return fmt.Errorf("row stream on %s ended before table %s was done", src.name(), st.copy[0].name)
		}
		if err != nil {
			return fmt.Errorf("row stream on %s: %w", src.name(), grpcFatal(err))
		}
		if len(st.copy) == 0 || !strings.EqualFold(msg.Table, st.copy[0].name) {
			return fmt.Errorf("row stream sent table %q, expected %v", msg.Table, st.copy)
		}
		if msg.Fields != nil {
			t = tables[st.copy[0].name]
			names := make([]string, len(msg.Fields))
			for i, f := range msg.Fields {
				names[i] = f.Name
			}
			lk = nil
			if r := s.lookupRule(msg.Table); r != nil {
				p, err := newLookupProj(r, t, names)
				if err != nil {
					return err
				}
				lk = &eventTable{t: t, cols: names, lk: p}
			} else if err := t.sameColumns(names); err != nil {
				return &fatalError{err}
			}
			load = lk == nil && s.e.cfg.CopyLoadData && loadable(t)
			s.setTable(t.Name)
			continue
		}
		if t == nil {
			return fmt.Errorf("row stream sent rows of %s before its fields", msg.Table)
		}
		var stmts []string
		var puts []rowOp
		switch {
		case lk != nil:
			puts, err = lk.lk.rowEntries(lk, msg.Rows)
		case !load:
			stmts, err = a.insertStatements(t, msg.Rows)
		}
		if err != nil {
			return err
		}
		key := stateKey(s.wf.Name, s.source) + " AND table_name = " + sqlString(st.copy[0].name)
		if msg.TableDone {
			stmts = append(stmts, "DELETE FROM _mosaic.copy_state WHERE "+key)
		} else if msg.Lastpk != nil {
			stmts = append(stmts, "UPDATE _mosaic.copy_state SET lastpk = "+string(appendHex(nil, msg.Lastpk))+" WHERE "+key)
		}
		n := int64(len(msg.Rows))
		if err := limit.wait(ctx, n); err != nil {
			return err
		}
		stmts = append(stmts, fmt.Sprintf("UPDATE _mosaic.vreplication SET rows_copied = rows_copied + %d, time_updated = %d WHERE %s", n, time.Now().UnixNano(), stateKey(s.wf.Name, s.source)))
		if load {
			err = a.loadTx(t, msg.Rows, stmts...)
		} else {
			err = a.txDo(func() error {
				if err := a.applyOps(puts); err != nil {
					return err
				}
				for _, q := range stmts {
					if err := a.conn.Exec(q); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err != nil {
			return fmt.Errorf("insert rows of %s: %w", t.Name, err)
		}
		st.rowsCopied += n
		s.m.rowsCopied.Add(float64(n))
		if msg.TableDone {
			s.log.Info("table copied", "table", t.Name)
			st.copy = st.copy[1:]
			t = nil
		} else if msg.Lastpk != nil {
			vals, err := mysqlconn.RowValues(msg.Lastpk, countValues(msg.Lastpk))
			if err != nil {
				return err
			}
			st.copy[0].lastpk = vals
		}
		s.copied(n, *st)
		if len(st.copy) == 0 {
			return s.setPhase(a, st, phaseRunning)
		}
		if time.Now().After(deadline) {
			s.log.Info("copy cycle over; catching up with the binlog", "table", st.copy[0].name)
			return nil
		}
	}
}

// estimate is how many rows this stream's copy brings, from the source's
// estimates: the share of the source's key range this target takes (keys
// spread evenly by the vindexes), whole reference tables.
func (s *stream) estimate(rows map[string]int64) int64 {
	share := rangeShare(s.sourceKR, s.e.kr)
	var total float64
	for _, r := range s.rules {
		n := float64(rows[r.Name])
		switch {
		case r.Lookup != nil && r.VindexType != "":
			// Every source feeds this target the entries of its range.
			total += n * rangeShare(&topodatapb.KeyRange{}, s.e.kr)
		case r.Lookup != nil:
			total += n
		case r.Reference:
			total += n
		case r.Pinned != nil:
			if keyrange.Contains(s.e.kr, r.Pinned) {
				total += n
			}
		default:
			total += n * share
		}
	}
	return int64(math.Round(total))
}

// rangeShare is the fraction of src's key space inside dst.
func rangeShare(src, dst *topodatapb.KeyRange) float64 {
	lo := func(kr *topodatapb.KeyRange) float64 { return boundValue(kr.GetStart(), 0) }
	hi := func(kr *topodatapb.KeyRange) float64 { return boundValue(kr.GetEnd(), 1) }
	size := hi(src) - lo(src)
	if size <= 0 {
		return 0
	}
	over := math.Min(hi(src), hi(dst)) - math.Max(lo(src), lo(dst))
	return math.Max(0, over) / size
}

// boundValue maps a key range bound to [0, 1]; empty is def.
func boundValue(b []byte, def float64) float64 {
	if len(b) == 0 {
		return def
	}
	v, scale := 0.0, 1.0
	for i := 0; i < len(b) && i < 8; i++ {
		scale /= 256
		v += float64(b[i]) * scale
	}
	return v
}

// setPhase stores a new phase.
func (s *stream) setPhase(a *applier, st *streamState, phase string) error {
	if err := a.inTx("UPDATE _mosaic.vreplication SET phase = " + sqlString(phase) + ", message = '' WHERE " + stateKey(s.wf.Name, s.source)); err != nil {
		return err
	}
	st.phase = phase
	s.log.Info("stream phase", "phase", phase, "position", st.pos)
	s.setState(*st)
	return nil
}

// grpcFatal marks errors of a source that a retry will not fix.
func grpcFatal(err error) error {
	if status.Code(err) == codes.FailedPrecondition && strings.Contains(err.Error(), "snapshot at") {
		// A source behind the stream: try again, or another tablet.
		return err
	}
	if status.Code(err) == codes.FailedPrecondition || status.Code(err) == codes.InvalidArgument {
		return &fatalError{err}
	}
	return err
}

// rateLimit spaces batches so that rows go at most perSecond a second
// (0: no limit).
type rateLimit struct {
	perSecond int
	start     time.Time
	rows      int64
}

func newRateLimit(perSecond int) *rateLimit {
	return &rateLimit{perSecond: perSecond, start: time.Now()}
}

// wait blocks until n more rows fit in the rate.
func (r *rateLimit) wait(ctx context.Context, n int64) error {
	if r.perSecond <= 0 {
		return nil
	}
	r.rows += n
	due := r.start.Add(time.Duration(float64(r.rows) / float64(r.perSecond) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
