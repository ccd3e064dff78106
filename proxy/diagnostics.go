package proxy

import (
	"strconv"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// The gate keeps each session's diagnostics as MariaDB does: the
// conditions of the last statement that had any (its warnings, read by
// the tablets with SHOW WARNINGS on the connection the statement used, or
// its error), kept across statements that use no table and have no
// conditions of their own (SET, SELECT 1, SHOW WARNINGS itself) and
// cleared by one that uses a table.

// stmtInfo is what the gate learns about one client statement while
// running it: for metrics and for the session's diagnostics.
type stmtInfo struct {
	stmtType, planType string
	// usesTables is set for statements that read or write tables, which
	// clear the previous statement's conditions.
	usesTables bool
	// diagnostic is set for SHOW WARNINGS and SHOW ERRORS, which leave
	// FOUND_ROWS() alone.
	diagnostic bool
	// streamErr is an error that ended a result set under way: already
	// written to the client.
	streamErr error
	// stats are the stats of the statement's plan, if it ran one.
	stats *router.PlanStats
	// callOut are the OUT and INOUT parameters of a prepared CALL bound
	// as ? markers (callout.go).
	callOut *callOut
	// columns, for a prepared statement's execution by a client with
	// MARIADB_CLIENT_CACHE_METADATA, are the statement's result columns
	// the client holds: a result set with the same ones goes without
	// them (writeFields). Nil sends them always (a CALL, whose result
	// sets differ).
	columns *mysqlsrv.ColumnCache
}

func countErrors(conds []*querypb.Warning) int {
	n := 0
	for _, c := range conds {
		if c.Level == "Error" {
			n++
		}
	}
	return n
}

// finishStatement updates the session's diagnostics after a statement.
func (cc *clientConn) finishStatement(st *stmtInfo, err error) {
	s := cc.s
	ws := s.takeWarnings()
	switch {
	case err != nil:
		e := sqlerr.FromError(err)
		s.conds = append(ws, &querypb.Warning{Level: "Error", Code: uint32(e.Num), Message: e.Message})
		s.RowCount = -1
	case len(ws) > 0:
		s.conds = ws
	case st.usesTables:
		s.conds = nil
	}
}

// showWarnings answers SHOW WARNINGS, SHOW ERRORS and their COUNT(*)
// forms from the session's diagnostics.
func (cc *clientConn) showWarnings(errorsOnly, count bool, offset, limit int) error {
	conds := cc.s.conds
	if errorsOnly {
		var only []*querypb.Warning
		for _, c := range conds {
			if c.Level == "Error" {
				only = append(only, c)
			}
		}
		conds = only
	}
	if count {
		name := "@@session.warning_count"
		if errorsOnly {
			name = "@@session.error_count"
		}
		res := &querypb.QueryResult{Fields: []*querypb.Field{{Name: name, Type: sqltypes.TypeLonglong, Flags: sqltypes.FlagUnsigned | sqltypes.FlagNotNull | sqltypes.FlagBinary, Charset: sqltypes.CollationBinary, ColumnLength: 21}}}
		res.Rows = [][]byte{sqltypes.EncodeRow([][]byte{[]byte(strconv.Itoa(len(conds)))})}
		return cc.writeRowsResult(res, true)
	}
	res := &querypb.QueryResult{Fields: []*querypb.Field{
		{Name: "Level", Type: sqltypes.TypeVarString, Flags: sqltypes.FlagNotNull, Charset: 33, ColumnLength: 21},
		{Name: "Code", Type: sqltypes.TypeLong, Flags: sqltypes.FlagNotNull | sqltypes.FlagUnsigned | sqltypes.FlagBinary, Charset: sqltypes.CollationBinary, ColumnLength: 4},
		{Name: "Message", Type: sqltypes.TypeVarString, Flags: sqltypes.FlagNotNull, Charset: 33, ColumnLength: 1536},
	}}
	if offset < len(conds) {
		conds = conds[offset:]
	} else {
		conds = nil
	}
	if limit >= 0 && limit < len(conds) {
		conds = conds[:limit]
	}
	for _, c := range conds {
		res.Rows = append(res.Rows, sqltypes.EncodeRow([][]byte{[]byte(c.Level), []byte(strconv.FormatUint(uint64(c.Code), 10)), []byte(c.Message)}))
	}
	return cc.writeRowsResult(res, true)
}
