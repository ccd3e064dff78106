package proxy

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/sqltext"
)

// activity is what a client connection is doing, as SHOW PROCESSLIST
// shows it. The connection's goroutine sets it (under the connection's
// mu) when a statement starts and when it ends, with the session's user
// and keyspace of that moment: other goroutines never read the session.
type activity struct {
	user, db string
	// command is "Query", "Execute", "Prepare", "Field List" or "Sleep".
	command string
	// info is the statement's text while one runs.
	info  string
	since time.Time
}

// setActivity records what the connection does from now on. Only the
// connection's goroutine calls it.
func (cc *clientConn) setActivity(command, info string) {
	a := activity{command: command, info: info, since: time.Now()}
	if cc.s != nil {
		a.user, a.db = cc.s.User, cc.s.Keyspace
	}
	cc.mu.Lock()
	cc.act = a
	cc.mu.Unlock()
}

// processInfoLen is how much of a statement SHOW PROCESSLIST shows
// without FULL, as mysqld.
const processInfoLen = 100

// processListFields are the columns of MariaDB's SHOW PROCESSLIST.
var processListFields = []*querypb.Field{
	{Name: "Id", Type: 8, Charset: 63, ColumnLength: 21, Flags: 1 | 32}, // NOT NULL, UNSIGNED
	{Name: "User", Type: 253, Charset: 33, ColumnLength: 384, Flags: 1},
	{Name: "Host", Type: 253, Charset: 33, ColumnLength: 192, Flags: 1},
	{Name: "db", Type: 253, Charset: 33, ColumnLength: 192},
	{Name: "Command", Type: 253, Charset: 33, ColumnLength: 48, Flags: 1},
	{Name: "Time", Type: 3, Charset: 63, ColumnLength: 7, Flags: 1},
	{Name: "State", Type: 253, Charset: 33, ColumnLength: 90},
	{Name: "Info", Type: 253, Charset: 33, ColumnLength: 300},
	{Name: "Progress", Type: 246, Charset: 63, ColumnLength: 7, Decimals: 3, Flags: 1},
}

// showProcessList answers SHOW [FULL] PROCESSLIST with the gate's client
// connections, the ids KILL takes. As on mysqld, an account sees only its
// own connections unless it holds PROCESS (maySee).
func (cc *clientConn) showProcessList(full bool) error {
	var conns []*clientConn
	cc.g.conns.Range(func(_, v any) bool {
		if t := v.(*clientConn); t == cc || cc.maySee(t) {
			conns = append(conns, t)
		}
		return true
	})
	slices.SortFunc(conns, func(a, b *clientConn) int { return int(a.connID) - int(b.connID) })
	now := time.Now()
	res := &querypb.QueryResult{Fields: processListFields}
	for _, t := range conns {
		var a activity
		if t == cc {
			// This statement, as mysqld shows its own.
			a = activity{user: cc.s.User, db: cc.s.Keyspace, command: "Query", info: "SHOW PROCESSLIST", since: now}
			if full {
				a.info = "SHOW FULL PROCESSLIST"
			}
		} else {
			t.mu.Lock()
			a = t.act
			t.mu.Unlock()
		}
		res.Rows = append(res.Rows, processRow(t, a, now, full))
	}
	return cc.writeResult(res)
}

func processRow(t *clientConn, a activity, now time.Time, full bool) []byte {
	var row []byte
	row = mysqlsrv.AppendLenEncString(row, strconv.FormatUint(uint64(t.connID), 10))
	row = mysqlsrv.AppendLenEncString(row, a.user)
	row = mysqlsrv.AppendLenEncString(row, t.remote)
	row = appendNullableString(row, a.db)
	command := a.command
	if command == "" {
		command = "Sleep"
	}
	row = mysqlsrv.AppendLenEncString(row, command)
	secs := int64(0)
	if !a.since.IsZero() {
		secs = int64(now.Sub(a.since) / time.Second)
	}
	row = mysqlsrv.AppendLenEncString(row, strconv.FormatInt(secs, 10))
	state := ""
	if command != "Sleep" {
		state = "executing"
	}
	row = mysqlsrv.AppendLenEncString(row, state)
	// Other accounts (with PROCESS) may read it: no passwords. Redacted
	// here, when shown, rather than for every statement.
	info := sqltext.RedactSecrets(a.info)
	if !full && len(info) > processInfoLen {
		info = info[:processInfoLen]
		for len(info) > 0 && !utf8.ValidString(info) {
			info = info[:len(info)-1]
		}
	}
	row = appendNullableString(row, info)
	return mysqlsrv.AppendLenEncString(row, "0.000")
}

// appendNullableString appends s, or NULL when it is empty.
func appendNullableString(b []byte, s string) []byte {
	if s == "" {
		return append(b, 0xfb)
	}
	return mysqlsrv.AppendLenEncString(b, s)
}
