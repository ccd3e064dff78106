package vrepl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// VDiff compares this target's rows of a workflow's tables with its
// source shards' rows at one consistent point: the workflow's streams
// stop here; each source opens a snapshot at position P; each stream
// applies its source's binlog up to exactly P; this target opens its own
// snapshot; the streams go on; then both sides are read in primary-key
// order and merged. Every stream must have finished copying.
func (e *Engine) VDiff(ctx context.Context, req *vreplicationpb.VDiffRequest) (*vreplicationpb.VDiffResponse, error) {
	start := time.Now()
	e.mu.Lock()
	rec := e.records[req.Workflow]
	primary := e.primary
	e.mu.Unlock()
	switch {
	case !primary:
		return nil, status.Errorf(codes.FailedPrecondition, "tablet is not the primary of %s/%s", e.ks, e.shard)
	case rec == nil:
		return nil, status.Errorf(codes.NotFound, "workflow %s not found in keyspace %s", req.Workflow, e.ks)
	}
	var tables []string
	for _, r := range rec.Tables {
		if len(req.Tables) == 0 || containsFold(req.Tables, r.Name) {
			tables = append(tables, r.Name)
		}
	}
	for _, n := range req.Tables {
		if !containsFold(tables, n) {
			return nil, status.Errorf(codes.InvalidArgument, "table %s is not in workflow %s", n, req.Workflow)
		}
	}
	maxSamples := int(req.MaxSamples)
	if maxSamples <= 0 {
		maxSamples = 10
	}
	ws := streamsOf(rec, e.kr)
	a, done, err := dialTarget(ctx, e.acc, e.db, 2*e.cfg.RowBatchBytes)
	if err != nil {
		return nil, err
	}
	defer done()
	schema, err := loadTables(a.conn, e.db, tables)
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	for _, w := range ws {
		st, ok, err := loadState(a.conn, rec.Name, w.source)
		if err != nil {
			return nil, err
		}
		if !ok || st.phase != phaseRunning {
			return nil, status.Errorf(codes.FailedPrecondition, "the stream from %s to %s has not finished copying: run vdiff once every stream runs", w.source, e.shard)
		}
	}

	resume := e.pause(rec.Name)
	paused := true
	defer func() {
		if paused {
			resume()
		}
	}()
	// One snapshot per source, then each stream brought to it.
	srcs := make([]*diffSource, len(ws))
	defer func() {
		for _, s := range srcs {
			if s != nil {
				s.close()
			}
		}
	}()
	positions := map[string]string{}
	for i, w := range ws {
		s := newStream(e, rec, w.source, w.kr, w.rules)
		st, _, err := loadState(a.conn, rec.Name, w.source)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, r := range w.rules {
			if containsFold(tables, r.Name) {
				names = append(names, r.Name)
			}
		}
		ds, snap, err := e.openSnapshot(ctx, s, names, st.pos)
		if err != nil {
			return nil, err
		}
		srcs[i] = ds
		streamTables, err := loadTables(a.conn, e.db, s.ruleNames())
		if err != nil {
			return nil, err
		}
		if err := s.syncTo(ctx, a, streamTables, &st, snap); err != nil {
			return nil, fmt.Errorf("bring the stream from %s to %s: %w", w.source, snap, err)
		}
		positions[w.source] = snap.String()
	}
	tc, tdone, err := dialTargetSnapshot(ctx, e.acc, e.db)
	if err != nil {
		return nil, err
	}
	defer tdone()
	resume()
	paused = false
	e.log.Info("vdiff snapshots taken", "workflow", rec.Name, "positions", positions)

	resp := &vreplicationpb.VDiffResponse{TargetShard: e.shard, Positions: positions}
	for _, name := range tables {
		t := schema[name]
		var ins []*diffSource
		for _, s := range srcs {
			if s.has(name) {
				ins = append(ins, s)
			}
		}
		res, err := diffTable(ctx, tc, e.db, t, name, ins, maxSamples)
		if err != nil {
			return nil, fmt.Errorf("compare %s: %w", name, err)
		}
		resp.Tables = append(resp.Tables, res)
	}
	resp.DurationMs = time.Since(start).Milliseconds()
	return resp, nil
}

// pause stops the streams of workflow and keeps them stopped until the
// returned func is called.
func (e *Engine) pause(workflow string) (resume func()) {
	e.mu.Lock()
	e.paused[workflow]++
	var stop []*runningStream
	var stopIDs []streamID
	for id, rs := range e.running {
		if id.workflow == workflow {
			stop = append(stop, rs)
			stopIDs = append(stopIDs, id)
			delete(e.running, id)
			e.stopping[id] = rs
		}
	}
	e.mu.Unlock()
	for i, rs := range stop {
		rs.cancel()
		<-rs.done
		e.stopped(stopIDs[i], rs)
	}
	return func() {
		e.mu.Lock()
		e.paused[workflow]--
		if e.paused[workflow] == 0 {
			delete(e.paused, workflow)
		}
		e.mu.Unlock()
		e.wake()
	}
}

// syncTo applies the stream's binlog up to exactly pos, moving to the
// shard's other tablets when one fails, for up to a minute.
func (s *stream) syncTo(ctx context.Context, a *applier, tables map[string]*Table, st *streamState, pos Position) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := s.replicate(ctx, a, tables, st, pos)
		var fe *fatalError
		if err == nil || errors.As(err, &fe) || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		s.setError(err)
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// openSnapshot opens a row stream of tables on a tablet of s's source
// shard at a position no older than min, trying again (and other
// tablets) while the tablets are behind.
func (e *Engine) openSnapshot(ctx context.Context, s *stream, tables []string, min Position) (*diffSource, Position, error) {
	deadline := time.Now().Add(time.Minute)
	for attempt := 0; ; attempt++ {
		src, err := e.dialSource(ctx, s.wf.SourceKeyspace, s.source, attempt)
		if err != nil {
			return nil, Position{}, err
		}
		sctx, cancel := context.WithCancel(ctx)
		rs, err := src.client.StreamRows(sctx, &vreplicationpb.StreamRowsRequest{Tables: s.filters(tables), KeyRange: e.kr, MinPosition: min.String()})
		var first *vreplicationpb.StreamRowsResponse
		if err == nil {
			first, err = rs.Recv()
		}
		if err == nil {
			pos, perr := ParsePosition(first.Position)
			if perr != nil {
				cancel()
				src.close()
				return nil, Position{}, perr
			}
			return &diffSource{source: s.source, tables: tables, rs: rs, close: func() { cancel(); src.close() }}, pos, nil
		}
		cancel()
		src.close()
		// Behind (FailedPrecondition) or unfit (Unavailable): the next
		// tablet of the shard, or the same one a moment later.
		if c := status.Code(err); c != codes.FailedPrecondition && c != codes.Unavailable || time.Now().After(deadline) {
			return nil, Position{}, fmt.Errorf("snapshot of %s on %s: %w", s.source, src.name(), err)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, Position{}, ctx.Err()
		}
	}
}

// dialTargetSnapshot opens a consistent snapshot of this tablet's mysqld
// that reads values in the engine's text form.
func dialTargetSnapshot(ctx context.Context, acc Accounts, db string) (*mysqlconn.Conn, func(), error) {
	p := acc.Target
	p.DB = db
	c, err := mysqlconn.Dial(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	for _, q := range snapshotSetup {
		if err := c.Exec(q); err != nil {
			stop()
			c.Close()
			return nil, nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	return c, func() { stop(); c.Close() }, nil
}

// diffSource reads one source's snapshot, table after table.
type diffSource struct {
	source string
	tables []string
	rs     interface {
		Recv() (*vreplicationpb.StreamRowsResponse, error)
	}
	close func()
	// rows of the current message, and the next one's index.
	rows [][]byte
	next int
	done bool
}

func (d *diffSource) has(table string) bool { return containsFold(d.tables, table) }

// startTable reads up to table's fields.
func (d *diffSource) startTable(table string) error {
	msg, err := d.rs.Recv()
	if err != nil {
		return fmt.Errorf("snapshot of %s: %w", d.source, err)
	}
	if !strings.EqualFold(msg.Table, table) || msg.Fields == nil {
		return fmt.Errorf("snapshot of %s sent %q, want the fields of %s", d.source, msg.Table, table)
	}
	d.rows, d.next, d.done = nil, 0, false
	return nil
}

// row returns the next row of the current table, or nil at its end.
func (d *diffSource) row() ([]byte, error) {
	for d.next >= len(d.rows) {
		if d.done {
			return nil, nil
		}
		msg, err := d.rs.Recv()
		if err == io.EOF {
			return nil, fmt.Errorf("snapshot of %s ended inside a table", d.source)
		}
		if err != nil {
			return nil, fmt.Errorf("snapshot of %s: %w", d.source, err)
		}
		d.rows, d.next, d.done = msg.Rows, 0, msg.TableDone
	}
	r := d.rows[d.next]
	d.next++
	return r, nil
}

// sideReader yields one side's rows in key order with their keys, and
// checks that order.
type sideReader struct {
	t     *Table
	name  string
	next  func() ([]byte, error)
	vals  [][]byte
	key   pkKey
	ended bool
}

func (r *sideReader) advance() error {
	raw, err := r.next()
	if err != nil {
		return err
	}
	if raw == nil {
		r.ended, r.vals, r.key = true, nil, nil
		return nil
	}
	vals, err := mysqlconn.RowValues(raw, len(r.t.Copy)+len(r.t.weights))
	if err != nil {
		return err
	}
	key := r.t.streamKey(vals)
	if r.key != nil && r.t.compareKeys(key, r.key) <= 0 {
		return fmt.Errorf("%s sent the rows of %s out of key order (%s after %s): its key order is not one vdiff reproduces", r.name, r.t.Name, r.t.describeKey(vals), r.t.describeKey(r.vals))
	}
	r.vals, r.key = vals, key
	return nil
}

// diffTable merges the sources' rows of a table (their ranges are
// disjoint) and compares them with the target's.
func diffTable(ctx context.Context, tc *mysqlconn.Conn, db string, t *Table, name string, srcs []*diffSource, maxSamples int) (*vreplicationpb.VDiffTable, error) {
	res := &vreplicationpb.VDiffTable{Table: name}
	var sources []*sideReader
	for _, s := range srcs {
		if err := s.startTable(name); err != nil {
			return nil, err
		}
		sources = append(sources, &sideReader{t: t, name: "source " + s.source, next: s.row})
	}
	// The target's rows come from a goroutine that streams them.
	chunks := make(chan *querypb.QueryResult, 4)
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		defer close(chunks)
		errc <- tc.Stream(selectRows(db, t, nil), 256<<10, func(r *querypb.QueryResult) error {
			select {
			case chunks <- r:
				return nil
			case <-tctx.Done():
				return tctx.Err()
			}
		})
	}()
	var cur *querypb.QueryResult
	var idx int
	target := &sideReader{t: t, name: "the target", next: func() ([]byte, error) {
		for cur == nil || idx >= len(cur.Rows) {
			r, ok := <-chunks
			if !ok {
				if err := <-errc; err != nil {
					return nil, err
				}
				return nil, nil
			}
			cur, idx = r, 0
		}
		idx++
		return cur.Rows[idx-1], nil
	}}
	defer func() {
		cancel()
		for range chunks {
		}
	}()
	if err := target.advance(); err != nil {
		return nil, err
	}
	for _, s := range sources {
		if err := s.advance(); err != nil {
			return nil, err
		}
	}
	sample := func(list *[]string, vals [][]byte) {
		if len(*list) < maxSamples {
			*list = append(*list, t.describeKey(vals))
		}
	}
	for {
		// The smallest source row.
		var src *sideReader
		for _, s := range sources {
			if !s.ended && (src == nil || t.compareKeys(s.key, src.key) < 0) {
				src = s
			}
		}
		if src == nil && target.ended {
			return res, nil
		}
		c := 0
		switch {
		case src == nil:
			c = 1
		case target.ended:
			c = -1
		default:
			c = t.compareKeys(src.key, target.key)
		}
		switch {
		case c < 0:
			res.Missing++
			sample(&res.SampleMissing, src.vals)
		case c > 0:
			res.Extra++
			sample(&res.SampleExtra, target.vals)
		default:
			res.Compared++
			if !sameRow(src.vals, target.vals, len(t.Copy)) {
				res.Different++
				sample(&res.SampleDifferent, src.vals)
			}
		}
		if c <= 0 {
			if err := src.advance(); err != nil {
				return nil, err
			}
		}
		if c >= 0 {
			if err := target.advance(); err != nil {
				return nil, err
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

func sameRow(a, b [][]byte, n int) bool {
	for i := 0; i < n; i++ {
		if (a[i] == nil) != (b[i] == nil) || string(a[i]) != string(b[i]) {
			return false
		}
	}
	return true
}
