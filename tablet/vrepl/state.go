package vrepl

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// DDL makes the engine's progress tables, idempotently. Tablets run it
// unbinlogged on every mysqld start, as they do Mosaic's other tables;
// the rows are binlogged, so a target's replicas hold the progress of the
// rows they hold, and a promoted replica resumes the streams exactly.
func DDL() []string { return slices.Clone(stateDDL) }

var stateDDL = []string{
	"CREATE DATABASE IF NOT EXISTS _mosaic",
	`CREATE TABLE IF NOT EXISTS _mosaic.vreplication (
  workflow VARBINARY(64) NOT NULL,
  source_shard VARBINARY(64) NOT NULL,
  epoch BIGINT NOT NULL DEFAULT 0,
  pos VARBINARY(4096) NOT NULL DEFAULT '',
  phase VARBINARY(16) NOT NULL,
  rows_copied BIGINT NOT NULL DEFAULT 0,
  rows_total BIGINT NOT NULL DEFAULT 0,
  transactions BIGINT NOT NULL DEFAULT 0,
  message VARBINARY(4096) NOT NULL DEFAULT '',
  time_updated BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (workflow, source_shard)
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS _mosaic.copy_state (
  workflow VARBINARY(64) NOT NULL,
  source_shard VARBINARY(64) NOT NULL,
  table_name VARBINARY(64) NOT NULL,
  seq INT NOT NULL,
  lastpk VARBINARY(16384) NULL,
  PRIMARY KEY (workflow, source_shard, table_name)
) ENGINE=InnoDB`,
}

// Stream phases as stored and shown.
const (
	phaseCopying = "copying"
	phaseRunning = "running"
	phaseStopped = "stopped"
	phaseFrozen  = "frozen"
	phaseError   = "error"
)

// copyTable is a table still to copy.
type copyTable struct {
	name string
	seq  int
	// lastpk is the last key copied (key values, then sort keys); nil
	// before the first row.
	lastpk [][]byte
}

// streamState is a stream's stored progress.
type streamState struct {
	epoch      int64
	pos        Position
	phase      string
	rowsCopied int64
	rowsTotal  int64
	txns       int64
	message    string
	// copy are the tables not copied yet, in copy order; copy[0] is the
	// one being copied.
	copy []copyTable
}

// stateKey is the WHERE clause of one stream's rows.
func stateKey(workflow, source string) string {
	return "workflow = " + sqlString(workflow) + " AND source_shard = " + sqlString(source)
}

// loadState reads a stream's stored progress; ok is false when there is
// none.
func loadState(c *mysqlconn.Conn, workflow, source string) (st streamState, ok bool, err error) {
	res, err := c.Execute("SELECT epoch, pos, phase, rows_copied, rows_total, transactions, message FROM _mosaic.vreplication WHERE "+stateKey(workflow, source), 0)
	if err != nil {
		return st, false, fmt.Errorf("read stream state: %w", err)
	}
	rows, err := mysqlconn.NamedRows(res)
	if err != nil || len(rows) == 0 {
		return st, false, err
	}
	r := rows[0]
	st.epoch, _ = strconv.ParseInt(r["epoch"], 10, 64)
	if st.pos, err = ParsePosition(r["pos"]); err != nil {
		return st, false, err
	}
	st.phase = r["phase"]
	st.rowsCopied, _ = strconv.ParseInt(r["rows_copied"], 10, 64)
	st.rowsTotal, _ = strconv.ParseInt(r["rows_total"], 10, 64)
	st.txns, _ = strconv.ParseInt(r["transactions"], 10, 64)
	st.message = r["message"]
	res, err = c.Execute("SELECT table_name, seq, lastpk FROM _mosaic.copy_state WHERE "+stateKey(workflow, source)+" ORDER BY seq", 0)
	if err != nil {
		return st, false, fmt.Errorf("read copy state: %w", err)
	}
	for _, raw := range res.Rows {
		vals, err := mysqlconn.RowValues(raw, 3)
		if err != nil {
			return st, false, err
		}
		seq, _ := strconv.Atoi(string(vals[1]))
		ct := copyTable{name: string(vals[0]), seq: seq}
		if vals[2] != nil {
			// A stored lastpk is a text-protocol row; its length is
			// checked against the table when used.
			n := countValues(vals[2])
			if ct.lastpk, err = mysqlconn.RowValues(append([]byte(nil), vals[2]...), n); err != nil {
				return st, false, fmt.Errorf("copy state of %s: %w", ct.name, err)
			}
		}
		st.copy = append(st.copy, ct)
	}
	return st, true, nil
}

// countValues counts the values of a text-protocol row.
func countValues(row []byte) int {
	n := 0
	for pos := 0; pos < len(row); n++ {
		if row[pos] == 0xfb {
			pos++
			continue
		}
		l, size := lenEncInt(row[pos:])
		if size == 0 {
			return n + 1
		}
		pos += size + int(l)
	}
	return n
}

func lenEncInt(b []byte) (uint64, int) {
	switch {
	case b[0] < 0xfb:
		return uint64(b[0]), 1
	case b[0] == 0xfc && len(b) >= 3:
		return uint64(b[1]) | uint64(b[2])<<8, 3
	case b[0] == 0xfd && len(b) >= 4:
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4
	case b[0] == 0xfe && len(b) >= 9:
		var v uint64
		for i := 8; i >= 1; i-- {
			v = v<<8 | uint64(b[i])
		}
		return v, 9
	}
	return 0, 0
}

// initStatements store a new stream: copying tables (in order), or
// running from pos when it starts without a copy.
func initStatements(workflow, source string, epoch int64, pos Position, tables []string) []string {
	phase := phaseRunning
	if len(tables) > 0 {
		phase = phaseCopying
	}
	out := []string{
		"DELETE FROM _mosaic.vreplication WHERE " + stateKey(workflow, source),
		"DELETE FROM _mosaic.copy_state WHERE " + stateKey(workflow, source),
		fmt.Sprintf("INSERT INTO _mosaic.vreplication (workflow, source_shard, epoch, pos, phase, time_updated) VALUES (%s, %s, %d, %s, %s, %d)",
			sqlString(workflow), sqlString(source), epoch, sqlString(pos.String()), sqlString(phase), time.Now().UnixNano()),
	}
	for i, t := range tables {
		out = append(out, fmt.Sprintf("INSERT INTO _mosaic.copy_state (workflow, source_shard, table_name, seq) VALUES (%s, %s, %s, %d)",
			sqlString(workflow), sqlString(source), sqlString(t), i))
	}
	return out
}

// deleteStateStatements forget a workflow's streams on this tablet.
func deleteStateStatements(workflow string) []string {
	return []string{
		"DELETE FROM _mosaic.vreplication WHERE workflow = " + sqlString(workflow),
		"DELETE FROM _mosaic.copy_state WHERE workflow = " + sqlString(workflow),
	}
}
