package vrepl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	// The parser needs a driver for the literals of the DDL it reads.
	_ "github.com/pingcap/tidb/pkg/parser/test_driver"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// MariaDB's GTID event flags for XA transactions (log_event.h).
const (
	flPreparedXA  = 64
	flCompletedXA = 128
)

// StreamEvents streams the row changes of req's tables after
// req.Position from the local mysqld's binlog, as documented on the
// VReplication service. It runs until ctx ends or an error.
func (s *Source) StreamEvents(ctx context.Context, req *vreplicationpb.StreamEventsRequest, send func(*vreplicationpb.StreamEventsResponse) error) error {
	pos, err := ParsePosition(req.Position)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	gset, err := mysql.ParseMariadbGTIDSet(pos.String())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := &eventHandler{
		ctx:    ctx,
		db:     s.db,
		kr:     req.KeyRange,
		pos:    pos,
		tables: map[string]*streamedTable{},
		out:    make(chan *vreplicationpb.BinlogEvent, 1024),
		parser: parser.New(),

		maxPending: s.cfg.LargeTransactionBytes,
	}
	for _, f := range req.Tables {
		h.tables[strings.ToLower(f.Name)] = &streamedTable{filter: f}
	}
	socket := s.socket
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		// A server id of its own: a binlog reader that shares one with
		// another replica of the same mysqld disconnects it.
		ServerID: 1<<31 + rand.Uint32N(1<<30),
		Flavor:   mysql.MariaDBFlavor,
		Host:     socket,
		User:     s.params.User,
		Password: s.params.Password,
		Dialer: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
		DisableRetrySync:        true,
		DiscardGTIDSet:          true,
		TimestampStringLocation: time.UTC,
		HeartbeatPeriod:         s.cfg.HeartbeatInterval,
		Logger:                  slog.New(quietHandler{s.log.Handler()}),
		SynchronousEventHandler: h,
	})
	defer syncer.Close()
	streamer, err := syncer.StartSyncGTID(gset)
	if err != nil {
		return status.Errorf(codes.Unavailable, "read binlog from %s: %v", pos, err)
	}
	// With a synchronous handler the streamer only carries the syncer's
	// end.
	syncErr := make(chan error, 1)
	go func() {
		_, err := streamer.GetEvent(ctx)
		syncErr <- err
	}()
	for {
		var batch []*vreplicationpb.BinlogEvent
		select {
		case ev := <-h.out:
			batch = append(batch, ev)
		case err := <-syncErr:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if ferr := h.failure(); ferr != nil {
				return status.Errorf(codes.FailedPrecondition, "binlog from %s: %v", pos, ferr)
			}
			var me *mysql.MyError
			if errors.As(err, &me) {
				return status.Errorf(codes.FailedPrecondition, "binlog from %s: %v", pos, err)
			}
			return status.Errorf(codes.Unavailable, "binlog stream: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		}
		size := 0
	drain:
		for len(batch) < 4096 && size < s.cfg.RowBatchBytes {
			select {
			case ev := <-h.out:
				batch = append(batch, ev)
				for _, ch := range ev.Changes {
					size += len(ch.Before) + len(ch.After)
				}
			default:
				break drain
			}
		}
		if err := send(&vreplicationpb.StreamEventsResponse{Events: batch}); err != nil {
			return err
		}
	}
}

// streamedTable is a table a stream carries.
type streamedTable struct {
	filter *vreplicationpb.TableFilter
	rf     *rowFilter
	// columns sent last in a FIELDS event
	columns []string
}

// eventHandler turns binlog events into BinlogEvents on the syncer's
// goroutine (values that go-mysql reuses are copied before it moves on).
type eventHandler struct {
	ctx    context.Context
	db     string
	kr     *topodatapb.KeyRange
	pos    Position
	tables map[string]*streamedTable
	out    chan *vreplicationpb.BinlogEvent
	parser *parser.Parser

	gtid    GTID
	gtidTS  uint32
	inGroup bool
	xa      bool
	// pending are the ROWS events of the current transaction, sent at its
	// commit; a transaction larger than maxPending goes out in parts
	// before it (the target applies them in one transaction still, which
	// commits with the COMMIT).
	pending     []*vreplicationpb.BinlogEvent
	pendingSize int
	maxPending  int
	// rowsInGroup: the current group changed a streamed table.
	rowsInGroup bool
	// conv caches each table map's converter within a transaction.
	conv map[*replication.TableMapEvent]*binlogTable

	mu  sync.Mutex
	err error
}

func (h *eventHandler) emit(ev *vreplicationpb.BinlogEvent) error {
	select {
	case h.out <- ev:
		return nil
	case <-h.ctx.Done():
		return h.ctx.Err()
	}
}

// HandleEvent implements replication.EventHandler. An error ends the
// stream; it is kept for StreamEvents, which reports it as the source's
// (a retry would meet it again).
func (h *eventHandler) HandleEvent(ev *replication.BinlogEvent) error {
	err := h.handle(ev)
	if err != nil && h.ctx.Err() == nil {
		h.mu.Lock()
		h.err = err
		h.mu.Unlock()
	}
	return err
}

func (h *eventHandler) failure() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

func (h *eventHandler) handle(ev *replication.BinlogEvent) error {
	switch e := ev.Event.(type) {
	case *replication.MariadbGTIDEvent:
		h.gtid = GTID{Domain: e.GTID.DomainID, Server: e.GTID.ServerID, Seq: e.GTID.SequenceNumber}
		h.gtidTS = ev.Header.Timestamp
		h.inGroup = true
		h.xa = e.Flags&(flPreparedXA|flCompletedXA) != 0
		h.pending, h.pendingSize, h.rowsInGroup = h.pending[:0], 0, false
		h.conv = nil
	case *replication.RowsEvent:
		return h.rows(ev.Header.EventType, e)
	case *replication.XIDEvent:
		return h.commit()
	case *replication.QueryEvent:
		q := strings.TrimSpace(string(e.Query))
		switch {
		case strings.EqualFold(q, "BEGIN"):
			return nil
		case strings.EqualFold(q, "COMMIT"):
			return h.commit()
		}
		if h.xa {
			uq := strings.ToUpper(q)
			switch {
			case strings.HasPrefix(uq, "XA START"), strings.HasPrefix(uq, "XA BEGIN"), strings.HasPrefix(uq, "XA END"):
				return nil
			case strings.HasPrefix(uq, "XA "):
				// XA COMMIT or XA ROLLBACK of a prepared transaction.
				return h.commit()
			}
		}
		if tbl, ok := h.touches(string(e.Schema), q); ok {
			h.pos = h.pos.With(h.gtid)
			h.inGroup = false
			return h.emit(&vreplicationpb.BinlogEvent{Type: vreplicationpb.EventType_DDL, Table: tbl, Statement: q, Position: h.pos.String(), TimestampUnixNano: h.commitTime()})
		}
		// Any other statement ends its own group.
		return h.commit()
	case *replication.GenericEvent:
		switch ev.Header.EventType {
		case replication.HEARTBEAT_EVENT, replication.HEARTBEAT_LOG_EVENT_V2:
			if !h.inGroup {
				return h.emit(&vreplicationpb.BinlogEvent{Type: vreplicationpb.EventType_HEARTBEAT, TimestampUnixNano: time.Now().UnixNano()})
			}
		case replication.XA_PREPARE_LOG_EVENT:
			// The prepared transaction's rows become visible only at its
			// XA COMMIT, in a later group that carries no rows: following
			// them would need this stream to hold them across groups (and
			// restarts). Refuse rather than apply a transaction that may
			// yet roll back.
			if h.rowsInGroup {
				return errors.New("an XA transaction (twopc) changes a streamed table: resharding does not follow XA transactions yet")
			}
			return h.commit()
		}
	}
	return nil
}

// commitTime is when the current group committed: now when the binlog is
// read as it is written (the event's time has whole seconds only), else
// the event's time.
func (h *eventHandler) commitTime() int64 {
	now := time.Now()
	if now.Unix()-int64(h.gtidTS) <= 1 {
		return now.UnixNano()
	}
	return int64(h.gtidTS) * int64(time.Second)
}

// commit ends the current group: its row changes, then a COMMIT with the
// position after it.
func (h *eventHandler) commit() error {
	if !h.inGroup {
		return nil
	}
	h.inGroup = false
	h.pos = h.pos.With(h.gtid)
	for _, ev := range h.pending {
		if err := h.emit(ev); err != nil {
			return err
		}
	}
	h.pending, h.pendingSize = h.pending[:0], 0
	h.conv = nil
	return h.emit(&vreplicationpb.BinlogEvent{Type: vreplicationpb.EventType_COMMIT, Position: h.pos.String(), TimestampUnixNano: h.commitTime()})
}

// rows buffers the changes of one rows event that fall in the key range.
func (h *eventHandler) rows(typ replication.EventType, e *replication.RowsEvent) error {
	tm := e.Table
	if tm == nil || string(tm.Schema) != h.db {
		return nil
	}
	st := h.tables[strings.ToLower(string(tm.Table))]
	if st == nil {
		return nil
	}
	for _, skipped := range e.SkippedColumns {
		if len(skipped) > 0 {
			return fmt.Errorf("table %s: the binlog has partial row images (mysqld needs binlog_row_image=FULL)", tm.Table)
		}
	}
	if h.conv == nil {
		h.conv = map[*replication.TableMapEvent]*binlogTable{}
	}
	bt := h.conv[tm]
	if bt == nil {
		var err error
		if bt, err = newBinlogTable(tm); err != nil {
			return err
		}
		h.conv[tm] = bt
	}
	if !equalNames(st.columns, bt.columns) {
		rf, err := newRowFilter(st.filter, h.kr, bt.columns)
		if err != nil {
			return err
		}
		st.rf, st.columns = rf, bt.columns
		h.pending = append(h.pending, &vreplicationpb.BinlogEvent{Type: vreplicationpb.EventType_FIELDS, Table: st.filter.Name, Columns: bt.columns})
	}
	kind := rowsKind(typ)
	if kind == 0 {
		return fmt.Errorf("table %s: unexpected rows event %v", tm.Table, typ)
	}
	ev := &vreplicationpb.BinlogEvent{Type: vreplicationpb.EventType_ROWS, Table: st.filter.Name}
	step := 1
	if kind == 'u' {
		step = 2
	}
	for i := 0; i+step <= len(e.Rows); i += step {
		var before, after [][]byte
		var err error
		switch kind {
		case 'i':
			after, err = bt.row(tm, e.Rows[i])
		case 'd':
			before, err = bt.row(tm, e.Rows[i])
		case 'u':
			if before, err = bt.row(tm, e.Rows[i]); err == nil {
				after, err = bt.row(tm, e.Rows[i+1])
			}
		}
		if err != nil {
			return err
		}
		ch := &vreplicationpb.RowChange{}
		if before != nil {
			ok, err := st.rf.match(before)
			if err != nil {
				return err
			}
			if ok {
				ch.Before = mysqlconn.EncodeRow(before)
			}
		}
		if after != nil {
			ok, err := st.rf.match(after)
			if err != nil {
				return err
			}
			if ok {
				ch.After = mysqlconn.EncodeRow(after)
			}
		}
		if ch.Before != nil || ch.After != nil {
			ev.Changes = append(ev.Changes, ch)
		}
	}
	if len(ev.Changes) > 0 {
		h.pending = append(h.pending, ev)
		h.rowsInGroup = true
		for _, ch := range ev.Changes {
			h.pendingSize += len(ch.Before) + len(ch.After)
		}
	}
	if h.pendingSize >= h.maxPending && !h.xa {
		for _, ev := range h.pending {
			if err := h.emit(ev); err != nil {
				return err
			}
		}
		h.pending, h.pendingSize = h.pending[:0], 0
	}
	return nil
}

// rowsKind says whether a rows event inserts ('i'), updates ('u') or
// deletes ('d').
func rowsKind(t replication.EventType) byte {
	switch t {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2, replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
		return 'i'
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1:
		return 'u'
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2, replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		return 'd'
	}
	return 0
}

func equalNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// touches reports whether statement q, run with default database schema,
// names one of the streamed tables of the source's database, and which.
// A statement the parser cannot read is taken to touch a table whose
// name it contains.
func (h *eventHandler) touches(schema, q string) (string, bool) {
	stmts, _, err := h.parser.Parse(q, "", "")
	if err != nil {
		lq := strings.ToLower(q)
		for name, st := range h.tables {
			if strings.Contains(lq, name) {
				return st.filter.Name, true
			}
		}
		return "", false
	}
	v := &tableNames{}
	for _, s := range stmts {
		s.Accept(v)
	}
	for _, tn := range v.names {
		db := tn.Schema.O
		if db == "" {
			db = schema
		}
		if db != h.db {
			continue
		}
		if st := h.tables[tn.Name.L]; st != nil {
			return st.filter.Name, true
		}
	}
	return "", false
}

// tableNames collects the table names a statement mentions.
type tableNames struct{ names []*ast.TableName }

func (v *tableNames) Enter(n ast.Node) (ast.Node, bool) {
	if tn, ok := n.(*ast.TableName); ok {
		v.names = append(v.names, tn)
	}
	return n, false
}

func (v *tableNames) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// quietHandler passes go-mysql's warnings and errors on and drops its
// chatter (it logs its whole config at every connect).
type quietHandler struct{ slog.Handler }

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && q.Handler.Enabled(ctx, l)
}

func (q quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietHandler{q.Handler.WithAttrs(attrs)}
}

func (q quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{q.Handler.WithGroup(name)}
}
