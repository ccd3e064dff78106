package vrepl

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// snapshotSetup opens a consistent snapshot whose values come back in the
// engine's text form: bytes as stored (no character set conversion),
// TIMESTAMPs in UTC. A target may hold the stream still for a long time
// (it catches up with the binlog first): mysqld must not give up on a
// client that does not read.
var snapshotSetup = []string{
	"SET NAMES binary",
	"SET SESSION sql_mode = ''",
	"SET SESSION time_zone = '+00:00'",
	"SET SESSION net_write_timeout = 86400",
	"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
	"START TRANSACTION WITH CONSISTENT SNAPSHOT",
}

// StreamRows streams the rows of req's tables from one consistent
// snapshot, as documented on the VReplication service.
func (s *Source) StreamRows(ctx context.Context, req *vreplicationpb.StreamRowsRequest, send func(*vreplicationpb.StreamRowsResponse) error) error {
	minPos, err := ParsePosition(req.MinPosition)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	c, done, err := s.dial(ctx, snapshotSetup...)
	if err != nil {
		return err
	}
	defer done()
	pos, err := snapshotPosition(c)
	if err != nil {
		return err
	}
	if !pos.AtLeast(minPos) {
		return status.Errorf(codes.FailedPrecondition, "snapshot at %s is older than %s", pos, minPos)
	}
	names := make([]string, len(req.Tables))
	for i, f := range req.Tables {
		names[i] = f.Name
	}
	tables, err := loadTables(c, s.db, names)
	if err != nil {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	estimates, err := tableRows(c, s.db, names)
	if err != nil {
		return err
	}
	if err := send(&vreplicationpb.StreamRowsResponse{Position: pos.String(), TableRows: estimates}); err != nil {
		return err
	}
	for i, f := range req.Tables {
		var lastpk [][]byte
		if i == 0 && len(req.Lastpk) > 0 {
			t := tables[f.Name]
			if lastpk, err = mysqlconn.RowValues(req.Lastpk, len(t.PK)+len(t.weights)); err != nil {
				return status.Errorf(codes.InvalidArgument, "lastpk: %v", err)
			}
		}
		if err := s.streamTable(c, tables[f.Name], f, req, lastpk, send); err != nil {
			return err
		}
	}
	return c.Exec("COMMIT")
}

// snapshotPosition returns the GTID position the connection's snapshot is
// consistent with.
func snapshotPosition(c *mysqlconn.Conn) (Position, error) {
	res, err := c.Execute("SHOW SESSION STATUS LIKE 'binlog_snapshot_%'", 0)
	if err != nil {
		return Position{}, fmt.Errorf("snapshot binlog position: %w", err)
	}
	rows, err := mysqlconn.NamedRows(res)
	if err != nil {
		return Position{}, err
	}
	var file, off string
	for _, r := range rows {
		switch strings.ToLower(r["Variable_name"]) {
		case "binlog_snapshot_file":
			file = r["Value"]
		case "binlog_snapshot_position":
			off = r["Value"]
		}
	}
	if file == "" || off == "" {
		return Position{}, fmt.Errorf("mysqld gives no binlog position for its snapshot (binlog off?)")
	}
	res, err = c.Execute("SELECT BINLOG_GTID_POS("+sqlString(file)+", "+off+") AS pos", 0)
	if err != nil {
		return Position{}, fmt.Errorf("GTID position of %s:%s: %w", file, off, err)
	}
	rows, err = mysqlconn.NamedRows(res)
	if err != nil || len(rows) != 1 {
		return Position{}, fmt.Errorf("GTID position of %s:%s: %v", file, off, err)
	}
	return ParsePosition(rows[0]["pos"])
}

// tableRows returns mysqld's estimate of each table's row count.
func tableRows(c *mysqlconn.Conn, db string, names []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(names) == 0 {
		return out, nil
	}
	byLower := map[string]string{}
	var list []string
	for _, n := range names {
		byLower[strings.ToLower(n)] = n
		list = append(list, sqlString(n))
	}
	res, err := c.Execute("SELECT TABLE_NAME AS t, IFNULL(TABLE_ROWS, 0) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = "+sqlString(db)+" AND TABLE_NAME IN ("+strings.Join(list, ",")+")", 0)
	if err != nil {
		return nil, fmt.Errorf("estimate table sizes: %w", err)
	}
	rows, err := mysqlconn.NamedRows(res)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		n, _ := strconv.ParseInt(r["n"], 10, 64)
		out[byLower[strings.ToLower(r["t"])]] = n
	}
	return out, nil
}

// selectRows is the query that reads t's rows in primary-key order after
// lastpk (nil: from the start): the copied columns, then the sort keys of
// the weighted key columns.
func selectRows(db string, t *Table, lastpk [][]byte) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for j, i := range t.Copy {
		if j > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(t.Cols[i].Name))
	}
	for _, k := range t.weights {
		c := t.Cols[t.PK[k]]
		b.WriteString(", ")
		b.WriteString(weightExpr(c, quoteIdent(c.Name)))
	}
	b.WriteString(" FROM ")
	b.WriteString(quoteIdent(db))
	b.WriteByte('.')
	b.WriteString(quoteIdent(t.Name))
	if lastpk != nil {
		b.WriteString(" WHERE (")
		b.WriteString(pkList(t))
		b.WriteString(") > (")
		var lit []byte
		for n, i := range t.PK {
			if n > 0 {
				lit = append(lit, ", "...)
			}
			lit = appendLiteral(lit, &t.Cols[i], lastpk[n])
		}
		b.Write(lit)
		b.WriteString(")")
	}
	b.WriteString(" ORDER BY ")
	b.WriteString(pkList(t))
	return b.String()
}

func pkList(t *Table) string {
	cols := t.pkColumns()
	for i, c := range cols {
		cols[i] = quoteIdent(c)
	}
	return strings.Join(cols, ", ")
}

// streamTable sends one table's rows in the key range: a message with its
// fields, messages of about RowBatchBytes of rows, and one with
// table_done. A long run of rows outside the range still moves lastpk on
// now and then, so that a restart does not scan them again.
func (s *Source) streamTable(c *mysqlconn.Conn, t *Table, f *vreplicationpb.TableFilter, req *vreplicationpb.StreamRowsRequest, lastpk [][]byte, send func(*vreplicationpb.StreamRowsResponse) error) error {
	cols := t.copyColumns()
	rf, err := newRowFilter(f, req.KeyRange, cols)
	if err != nil {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	fields := make([]*querypb.Field, len(cols))
	for i, n := range cols {
		fields[i] = &querypb.Field{Name: n}
	}
	if err := send(&vreplicationpb.StreamRowsResponse{Table: f.Name, Fields: fields}); err != nil {
		return err
	}
	ncols := len(t.Copy) + len(t.weights)
	var batch [][]byte
	var size int
	// last is the last row scanned, whose key is the batch's lastpk.
	var last []byte
	var vals [][]byte
	var scanned, unsent int64
	flush := func(done bool) error {
		m := &vreplicationpb.StreamRowsResponse{Table: f.Name, Rows: batch, RowsScanned: scanned, TableDone: done}
		if last != nil {
			lv, err := mysqlconn.RowValues(last, ncols)
			if err != nil {
				return err
			}
			m.Lastpk = mysqlconn.EncodeRow(t.lastPKOf(lv))
		}
		batch, size, unsent = nil, 0, 0
		return send(m)
	}
	err = c.Stream(selectRows(s.db, t, lastpk), 64<<10, func(res *querypb.QueryResult) error {
		for _, raw := range res.Rows {
			vals, err = mysqlconn.AppendRowValues(vals[:0], raw, ncols)
			if err != nil {
				return err
			}
			ok, err := rf.match(vals)
			if err != nil {
				return status.Error(codes.FailedPrecondition, err.Error())
			}
			scanned++
			unsent++
			last = raw
			if ok {
				batch = append(batch, raw)
				size += len(raw)
			}
			if size >= s.cfg.RowBatchBytes || unsent >= 10000 {
				if err := flush(false); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", t.Name, err)
	}
	return flush(true)
}
