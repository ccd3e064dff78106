package mysqlsrv

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// ParamType is a parameter's type as COM_STMT_EXECUTE sends it: the
// MYSQL_TYPE_* byte and the unsigned flag.
type ParamType struct {
	Type     byte
	Unsigned bool
}

// ExecuteRequest is a parsed COM_STMT_EXECUTE.
type ExecuteRequest struct {
	StmtID uint32
	Flags  byte
	// nulls[i] is set for a NULL parameter.
	Nulls []bool
	// types are set when the client bound new types (else the previous
	// execution's apply).
	Types []ParamType
	// values is the rest of the packet: the non-NULL values in order.
	Values []byte
}

// ExecuteHeaderLen is the fixed part of COM_STMT_EXECUTE: statement id
// (4), flags (1) and iteration count (4).
const ExecuteHeaderLen = 9

// ParseExecuteHeader reads COM_STMT_EXECUTE for a statement of numParams
// parameters (found through the id, which the caller reads first). Its
// errors are mysqld's: 1835 for a packet too short for the fixed part, a
// new-params-bound flag other than 0 or 1 or types cut short; 1210 for a
// missing NULL bitmap or flag.
func ParseExecuteHeader(data []byte, numParams int) (ExecuteRequest, error) {
	var r ExecuteRequest
	if len(data) < ExecuteHeaderLen {
		return r, ErrMalformed("COM_STMT_EXECUTE")
	}
	r.StmtID = binary.LittleEndian.Uint32(data)
	r.Flags = data[4]
	// data[5:9] is the iteration count, always 1 (mysqld ignores it).
	p := data[ExecuteHeaderLen:]
	if numParams == 0 {
		return r, nil
	}
	nb := (numParams + 7) / 8
	if len(p) < nb+1 {
		return r, ErrExecuteArgs
	}
	r.Nulls = make([]bool, numParams)
	for i := range numParams {
		r.Nulls[i] = p[i/8]&(1<<(i%8)) != 0
	}
	p = p[nb:]
	bound := p[0]
	p = p[1:]
	switch bound {
	case 0:
	case 1:
		if len(p) < 2*numParams {
			return r, ErrMalformed("COM_STMT_EXECUTE")
		}
		r.Types = make([]ParamType, numParams)
		for i := range numParams {
			r.Types[i] = ParamType{Type: p[2*i], Unsigned: p[2*i+1]&0x80 != 0}
		}
		p = p[2*numParams:]
	default:
		return r, ErrMalformed("COM_STMT_EXECUTE")
	}
	r.Values = p
	return r, nil
}

// ErrExecuteArgs is mysqld's answer to parameters it cannot read.
var ErrExecuteArgs = sqlerr.New(sqlerr.ERWrongArguments, "Incorrect arguments to mysqld_stmt_execute")

// StmtIDOf returns the statement id that starts COM_STMT_* packets.
func StmtIDOf(data []byte) (uint32, bool) {
	if len(data) < 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(data), true
}

// knownParamType says whether t is a MYSQL_TYPE_* a parameter may have;
// mysqld refuses the others with 1210.
func knownParamType(t byte) bool {
	switch {
	case t <= mysql.MYSQL_TYPE_TIME2: // DECIMAL .. TIME2, NULL and NEWDATE included
		return true
	case t >= mysql.MYSQL_TYPE_JSON: // JSON, NEWDECIMAL, ENUM, SET, the blobs, the strings, GEOMETRY
		return true
	}
	return false
}

// DecodeParams turns the values of an execution into bind values for
// router.Plan.Bind: nil, int64, uint64, float64, string, []byte or an
// exact decimal. longData holds values sent by COM_STMT_SEND_LONG_DATA,
// which are not repeated in the packet. Strings are passed as strings
// (text in the connection's character set, which need not be UTF-8), and
// values of blob types as []byte.
func DecodeParams(types []ParamType, nulls []bool, values []byte, longData map[int][]byte) ([]any, error) {
	args := make([]any, len(types))
	p := values
	for i, t := range types {
		if !knownParamType(t.Type) {
			return nil, fmt.Errorf("parameter %d: unknown type %d", i+1, t.Type)
		}
		if ld, ok := longData[i]; ok {
			args[i] = textOrBytes(ld, t.Type)
			continue
		}
		if nulls[i] || t.Type == mysql.MYSQL_TYPE_NULL {
			args[i] = nil
			continue
		}
		v, n, err := decodeParam(t, p)
		if err != nil {
			return nil, fmt.Errorf("parameter %d: %w", i+1, err)
		}
		args[i] = v
		p = p[n:]
	}
	return args, nil
}

// decodeParam decodes one value; n is the bytes it took.
func decodeParam(t ParamType, p []byte) (v any, n int, err error) {
	need := func(k int) error {
		if len(p) < k {
			return fmt.Errorf("value of type %d cut short", t.Type)
		}
		return nil
	}
	switch t.Type {
	case mysql.MYSQL_TYPE_TINY:
		if err := need(1); err != nil {
			return nil, 0, err
		}
		if t.Unsigned {
			return uint64(p[0]), 1, nil
		}
		return int64(int8(p[0])), 1, nil
	case mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_YEAR:
		if err := need(2); err != nil {
			return nil, 0, err
		}
		x := binary.LittleEndian.Uint16(p)
		if t.Unsigned {
			return uint64(x), 2, nil
		}
		return int64(int16(x)), 2, nil
	case mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_INT24:
		if err := need(4); err != nil {
			return nil, 0, err
		}
		x := binary.LittleEndian.Uint32(p)
		if t.Unsigned {
			return uint64(x), 4, nil
		}
		return int64(int32(x)), 4, nil
	case mysql.MYSQL_TYPE_LONGLONG:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		x := binary.LittleEndian.Uint64(p)
		if t.Unsigned {
			if x <= math.MaxInt64 {
				return int64(x), 8, nil
			}
			return x, 8, nil
		}
		return int64(x), 8, nil
	case mysql.MYSQL_TYPE_FLOAT:
		if err := need(4); err != nil {
			return nil, 0, err
		}
		// The shortest decimal that reads back as the same float32, as
		// MySQL prints a FLOAT.
		f := math.Float32frombits(binary.LittleEndian.Uint32(p))
		x, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
		return x, 4, nil
	case mysql.MYSQL_TYPE_DOUBLE:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(p)), 8, nil
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE, mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_TIMESTAMP,
		mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_TIMESTAMP2:
		return decodeDateTimeParam(p, t.Type == mysql.MYSQL_TYPE_DATE || t.Type == mysql.MYSQL_TYPE_NEWDATE)
	case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2:
		return decodeTimeParam(p)
	}
	// Everything else is a length-encoded string.
	s, k, ok := ReadLenEncString(p)
	if !ok {
		return nil, 0, fmt.Errorf("value of type %d cut short or malformed", t.Type)
	}
	switch t.Type {
	case mysql.MYSQL_TYPE_DECIMAL, mysql.MYSQL_TYPE_NEWDECIMAL:
		if !isDecimalText(s) {
			return nil, 0, fmt.Errorf("malformed decimal %q", s)
		}
		return sqltypes.DecimalLiteral(s), k, nil
	}
	return textOrBytes(append([]byte(nil), s...), t.Type), k, nil
}

// textOrBytes passes a string parameter of a character type as text and
// one of a blob type as bytes (a _binary literal), as mysqld reads them.
func textOrBytes(b []byte, typ byte) any {
	switch typ {
	case mysql.MYSQL_TYPE_TINY_BLOB, mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB,
		mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_BIT, mysql.MYSQL_TYPE_GEOMETRY:
		return b
	}
	return string(b)
}

// isDecimalText accepts [+-]digits[.digits][e[+-]digits] and nothing
// else: the text goes into the SQL as it is.
func isDecimalText(s []byte) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// decodeDateTimeParam decodes the 0/4/7/11-byte date and time form into
// the text MySQL accepts.
func decodeDateTimeParam(p []byte, dateOnly bool) (any, int, error) {
	if len(p) < 1 || len(p) < 1+int(p[0]) {
		return nil, 0, fmt.Errorf("datetime value cut short")
	}
	n := int(p[0])
	d := p[1 : 1+n]
	var year, month, day, hour, minute, second, micro int
	switch n {
	case 0:
	case 4, 7, 11:
		year, month, day = int(binary.LittleEndian.Uint16(d)), int(d[2]), int(d[3])
		if n >= 7 {
			hour, minute, second = int(d[4]), int(d[5]), int(d[6])
		}
		if n == 11 {
			micro = int(binary.LittleEndian.Uint32(d[7:]))
		}
	default:
		return nil, 0, fmt.Errorf("datetime value of %d bytes", n)
	}
	if dateOnly && n <= 4 {
		return fmt.Sprintf("%04d-%02d-%02d", year, month, day), 1 + n, nil
	}
	s := fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", year, month, day, hour, minute, second)
	if micro != 0 {
		s += fmt.Sprintf(".%06d", micro)
	}
	return s, 1 + n, nil
}

// decodeTimeParam decodes the 0/8/12-byte TIME form.
func decodeTimeParam(p []byte) (any, int, error) {
	if len(p) < 1 || len(p) < 1+int(p[0]) {
		return nil, 0, fmt.Errorf("time value cut short")
	}
	n := int(p[0])
	d := p[1 : 1+n]
	switch n {
	case 0:
		return "00:00:00", 1, nil
	case 8, 12:
	default:
		return nil, 0, fmt.Errorf("time value of %d bytes", n)
	}
	sign := ""
	if d[0] == 1 {
		sign = "-"
	}
	hours := int(binary.LittleEndian.Uint32(d[1:]))*24 + int(d[5])
	s := fmt.Sprintf("%s%02d:%02d:%02d", sign, hours, d[6], d[7])
	if n == 12 {
		if micro := binary.LittleEndian.Uint32(d[8:]); micro != 0 {
			s += fmt.Sprintf(".%06d", micro)
		}
	}
	return s, 1 + n, nil
}
