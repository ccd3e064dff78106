package mysqlsrv

import (
	"encoding/binary"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// ComStmtBulkExecute is MariaDB's COM_STMT_BULK_EXECUTE (10.2+): one
// prepared statement run for many rows of parameters in one packet,
// offered with the extended capability MARIADB_CLIENT_STMT_BULK_OPERATIONS.
// The packet is
//
//	0xfa, statement id (4), flags (2),
//	with BulkSendTypes: a type byte and a flag byte (0x80 unsigned) per parameter,
//	then to the end of the packet, row after row, for each parameter an
//	indicator byte (Indicator*) followed, for IndicatorNone only, by the
//	value in the binary protocol.
const ComStmtBulkExecute = 0xfa

// Bulk flags.
const (
	// BulkSendUnitResults asks for a result set of each row's affected
	// rows and id instead of one OK (MARIADB_CLIENT_BULK_UNIT_RESULTS,
	// MariaDB 11.5); MariaDB 10.11 refuses it, and so does the gate.
	BulkSendUnitResults uint16 = 64
	// BulkSendTypes says the parameter types follow the flags.
	BulkSendTypes uint16 = 128
)

// Indicator says what a parameter of one row of a bulk execution holds.
type Indicator byte

const (
	// IndicatorNone: a value follows.
	IndicatorNone Indicator = 0
	// IndicatorNull: the value is NULL.
	IndicatorNull Indicator = 1
	// IndicatorDefault: the column's default (INSERT and UPDATE).
	IndicatorDefault Indicator = 2
	// IndicatorIgnore: the column's default in an INSERT; in an UPDATE
	// the column is left as it is.
	IndicatorIgnore Indicator = 3
)

// BulkHeaderLen is the fixed part of COM_STMT_BULK_EXECUTE after the
// command byte: statement id (4) and flags (2).
const BulkHeaderLen = 6

// BulkRequest is a parsed COM_STMT_BULK_EXECUTE.
type BulkRequest struct {
	StmtID uint32
	Flags  uint16
	// Types are the types the packet sent (BulkSendTypes), nil when it
	// sent none and the statement's previous ones apply.
	Types []ParamType
	// rows is the rest of the packet: the rows.
	rows []byte
}

// ErrBulkUnsupported is MariaDB's answer to a bulk execution it does not
// do: flags it does not know, a statement without parameters or one that
// is not INSERT, REPLACE, UPDATE or DELETE.
var ErrBulkUnsupported = sqlerr.New(sqlerr.ERUnsupportedPS, "This command is not supported in the prepared statement protocol yet")

// ErrBulkArgs is MariaDB's answer to rows of parameters it cannot read.
var ErrBulkArgs = sqlerr.New(sqlerr.ERWrongArguments, "Incorrect arguments to mysqld_stmt_bulk_execute")

// ParseBulkHeader reads the statement id and flags of COM_STMT_BULK_EXECUTE
// (data without the command byte), in MariaDB's order of refusals: a
// packet too short (1835), then flags other than BulkSendTypes (1295).
// The statement is looked up by the caller before ParseBulkTypes.
func ParseBulkHeader(data []byte) (BulkRequest, error) {
	var r BulkRequest
	if len(data) < BulkHeaderLen {
		return r, ErrMalformed("COM_STMT_BULK_EXECUTE")
	}
	r.StmtID = binary.LittleEndian.Uint32(data)
	r.Flags = binary.LittleEndian.Uint16(data[4:])
	if r.Flags&^BulkSendTypes != 0 {
		return r, ErrBulkUnsupported
	}
	r.rows = data[BulkHeaderLen:]
	return r, nil
}

// ParseBulkTypes reads the parameter types of a statement of numParams
// parameters when the packet sends them: 1835 when they are cut short.
func (r *BulkRequest) ParseBulkTypes(numParams int) error {
	if r.Flags&BulkSendTypes == 0 {
		return nil
	}
	if len(r.rows) < 2*numParams {
		return ErrMalformed("COM_STMT_BULK_EXECUTE")
	}
	r.Types = make([]ParamType, numParams)
	for i := range numParams {
		r.Types[i] = ParamType{Type: r.rows[2*i], Unsigned: r.rows[2*i+1]&0x80 != 0}
	}
	r.rows = r.rows[2*numParams:]
	return nil
}

// BulkRows are the decoded rows of a bulk execution: row i's parameter p
// is Values[i*n+p] with its indicator Indicators[i*n+p], n the statement's
// parameter count. A value is nil unless its indicator is IndicatorNone
// (and nil then too for a NULL-typed one).
type BulkRows struct {
	N          int
	Values     []any
	Indicators []Indicator
}

// Len returns the number of rows.
func (b *BulkRows) Len() int {
	if b.N == 0 {
		return 0
	}
	return len(b.Indicators) / b.N
}

// Row returns row i's values and indicators (slices of b's).
func (b *BulkRows) Row(i int) ([]any, []Indicator) {
	return b.Values[i*b.N : (i+1)*b.N], b.Indicators[i*b.N : (i+1)*b.N]
}

// BulkRowReader reads the rows of a bulk execution a chunk at a time, so
// that a batch of any size holds only one chunk's values: NewRowReader
// has read every row once, and Next cannot fail.
type BulkRowReader struct {
	types []ParamType
	rest  []byte
	total int
}

// RowReader checks every row of the packet with the given types
// (len(types) parameters, at least one): every row must be whole and
// there must be one at least; any indicator, type or value it cannot read
// is ErrBulkArgs (1210), as MariaDB answers, wrapped with the reason.
// Values are decoded as DecodeParams does. Nothing is kept but the count.
func (r *BulkRequest) RowReader(types []ParamType) (*BulkRowReader, error) {
	n := len(types)
	if n == 0 {
		return nil, ErrBulkUnsupported
	}
	for i, t := range types {
		if !knownParamType(t.Type) {
			return nil, bulkArgs(fmt.Errorf("parameter %d: unknown type %d", i+1, t.Type))
		}
	}
	if len(r.rows) == 0 {
		return nil, bulkArgs(fmt.Errorf("no rows"))
	}
	total := 0
	for p := r.rows; len(p) > 0; total++ {
		var err error
		if p, err = decodeBulkRow(types, p, total, nil); err != nil {
			return nil, err
		}
	}
	return &BulkRowReader{types: types, rest: r.rows, total: total}, nil
}

// Total returns the number of rows.
func (rr *BulkRowReader) Total() int { return rr.total }

// Width returns the number of parameters of each row.
func (rr *BulkRowReader) Width() int { return len(rr.types) }

// Next decodes the next rows, maxRows at most (at least one); nil after
// the last. Nothing it returns refers to the packet.
func (rr *BulkRowReader) Next(maxRows int) *BulkRows {
	if len(rr.rest) == 0 {
		return nil
	}
	maxRows = max(maxRows, 1)
	n := len(rr.types)
	out := &BulkRows{N: n, Values: make([]any, 0, min(maxRows*n, len(rr.rest))), Indicators: make([]Indicator, 0, min(maxRows*n, len(rr.rest)))}
	for row := 0; row < maxRows && len(rr.rest) > 0; row++ {
		// RowReader read these rows already: they cannot fail.
		rest, err := decodeBulkRow(rr.types, rr.rest, row, out)
		if err != nil {
			panic(fmt.Sprintf("mysqlsrv: a bulk row read twice failed the second time: %v", err))
		}
		rr.rest = rest
	}
	return out
}

// DecodeBulkRows decodes every row at once (RowReader's checks, then
// all its rows).
func (r *BulkRequest) DecodeBulkRows(types []ParamType) (*BulkRows, error) {
	rr, err := r.RowReader(types)
	if err != nil {
		return nil, err
	}
	return rr.Next(rr.Total()), nil
}

// decodeBulkRow decodes the row at the start of p (row is its index, for
// errors), appending it to out unless out is nil, and returns the rest.
func decodeBulkRow(types []ParamType, p []byte, row int, out *BulkRows) ([]byte, error) {
	for i, t := range types {
		if len(p) == 0 {
			return nil, bulkArgs(fmt.Errorf("row %d cut short at parameter %d", row+1, i+1))
		}
		ind := Indicator(p[0])
		p = p[1:]
		var v any
		switch ind {
		case IndicatorNone:
			if t.Type == typeNull {
				break
			}
			x, k, err := decodeParam(t, p)
			if err != nil {
				return nil, bulkArgs(fmt.Errorf("row %d, parameter %d: %w", row+1, i+1, err))
			}
			v, p = x, p[k:]
		case IndicatorNull, IndicatorDefault, IndicatorIgnore:
		default:
			return nil, bulkArgs(fmt.Errorf("row %d, parameter %d: indicator %d", row+1, i+1, ind))
		}
		if out != nil {
			out.Values = append(out.Values, v)
			out.Indicators = append(out.Indicators, ind)
		}
	}
	return p, nil
}

// typeNull is MYSQL_TYPE_NULL, whose values take no bytes.
const typeNull = mysql.MYSQL_TYPE_NULL

func bulkArgs(err error) error {
	return sqlerr.Wrap(sqlerr.ERWrongArguments, err, "Incorrect arguments to mysqld_stmt_bulk_execute")
}
