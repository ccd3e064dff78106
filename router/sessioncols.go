package router

import (
	"slices"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/charset"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
)

// A session value the gate answers itself (LAST_INSERT_ID(),
// @@max_allowed_packet, ...) reaches the shard as a literal, and mysqld
// describes a literal by its value: `SELECT 5` is an INT of length 1 that
// cannot be NULL. mysqld describes the function or variable itself
// otherwise (LAST_INSERT_ID() is a BIGINT UNSIGNED of length 21), and
// drivers map columns by that description (Connector/J's getObject gives
// a Long or a BigInteger for a BIGINT, an Integer for an INT). So a
// select-list column that is exactly such a value gets mysqld's column
// definition back after the shard answered; one inside an expression
// (LAST_INSERT_ID() + 1) keeps the type mysqld derives from the literal.

// sessionColumnDef is mysqld's (MariaDB 10.11's) definition of the column
// of one session value.
type sessionColumnDef struct {
	typ     uint32
	length  uint32 // display length; for text, in characters
	notNull bool
	unsign  bool
	// text columns are in the connection's result character set, as the
	// shard described the literal: their length in bytes follows it.
	text bool
}

var (
	bigintUnsigned = &sessionColumnDef{typ: sqltypes.TypeLonglong, length: 21, unsign: true}
	// sessionFuncColumns are the functions' columns, by bind variable.
	sessionFuncColumns = map[string]*sessionColumnDef{
		LastInsertIDBind: {typ: sqltypes.TypeLonglong, length: 21, notNull: true, unsign: true},
		FoundRowsBind:    {typ: sqltypes.TypeLonglong, length: 21, notNull: true},
		RowCountBind:     {typ: sqltypes.TypeLonglong, length: 21, notNull: true},
		ConnectionIDBind: {typ: sqltypes.TypeLong, length: 10, notNull: true, unsign: true},
		// NAME_CHAR_LEN and USERNAME_CHAR_LEN + HOSTNAME_LENGTH + 1.
		DatabaseBind:    {typ: sqltypes.TypeVarString, length: 64, text: true},
		UserBind:        {typ: sqltypes.TypeVarString, length: 384, text: true},
		CurrentUserBind: {typ: sqltypes.TypeVarString, length: 384, text: true},
	}
	// sessionVarColumns are the system variables' columns, by bind
	// variable. A variable's column may always be NULL. @@transaction_mode
	// is the gate's own: mysqld has no definition to copy.
	sessionVarColumns = map[string]*sessionColumnDef{
		LastInsertIDBind:     bigintUnsigned,
		AutocommitBind:       {typ: sqltypes.TypeLonglong, length: 1},
		WarningCountBind:     bigintUnsigned,
		ErrorCountBind:       bigintUnsigned,
		InTransactionBind:    bigintUnsigned,
		MaxAllowedPacketBind: bigintUnsigned,
	}
)

// sessionColumn is a result column that is one session value.
type sessionColumn struct {
	index int
	def   *sessionColumnDef
}

// sessionColumns finds the select-list columns of a normalized SELECT that
// are exactly a session value. Columns after a * are not counted: their
// position is known only once the shard answers.
func sessionColumns(stmt ast.StmtNode) []sessionColumn {
	sel, ok := stmt.(*ast.SelectStmt)
	if !ok || sel.Fields == nil {
		return nil
	}
	var out []sessionColumn
	for i, f := range sel.Fields.Fields {
		if f.WildCard != nil {
			break
		}
		e := f.Expr
		for {
			p, ok := e.(*ast.ParenthesesExpr)
			if !ok {
				break
			}
			e = p.Expr
		}
		if b, ok := e.(*bindVarExpr); ok && b.column != nil {
			out = append(out, sessionColumn{index: i, def: b.column})
		}
	}
	return out
}

// describeSessionColumns gives the plan's session-value columns of res
// mysqld's definitions. The fields are copied: the shard's may be shared.
func describeSessionColumns(cols []sessionColumn, res *querypb.QueryResult) {
	if res == nil || len(res.Fields) == 0 {
		return
	}
	fields := slices.Clone(res.Fields)
	for _, c := range cols {
		if c.index >= len(fields) {
			continue
		}
		f := proto.Clone(fields[c.index]).(*querypb.Field)
		c.def.apply(f)
		fields[c.index] = f
	}
	res.Fields = fields
}

// apply rewrites the shard's description of the literal that stood for
// the value.
func (d *sessionColumnDef) apply(f *querypb.Field) {
	f.Type = d.typ
	f.Flags &^= sqltypes.FlagNotNull | sqltypes.FlagUnsigned
	if d.notNull {
		f.Flags |= sqltypes.FlagNotNull
	}
	if d.unsign {
		f.Flags |= sqltypes.FlagUnsigned
	}
	if !d.text {
		f.Flags |= sqltypes.FlagBinary
		f.Charset, f.ColumnLength, f.Decimals = sqltypes.CollationBinary, d.length, 0
		return
	}
	// A NULL literal (no keyspace selected for DATABASE()) has no
	// character set: the gate's tablet connections use utf8mb4.
	if f.Charset == sqltypes.CollationBinary || f.Charset == 0 {
		f.Charset = collationUtf8mb4
		f.Flags &^= sqltypes.FlagBinary
	}
	f.ColumnLength = d.length * maxBytesPerChar(f.Charset)
	f.Decimals = 39 // NOT_FIXED_DEC: a string has no fixed decimals
}

// collationUtf8mb4 is utf8mb4_general_ci.
const collationUtf8mb4 = 45

// maxBytesPerChar is the longest character of a collation's character
// set, in bytes.
func maxBytesPerChar(collation uint32) uint32 {
	co, err := charset.GetCollationByID(int(collation))
	if err != nil {
		return 4
	}
	cs, err := charset.GetCharsetInfo(co.CharsetName)
	if err != nil || cs.Maxlen <= 0 {
		return 4
	}
	return uint32(cs.Maxlen)
}
