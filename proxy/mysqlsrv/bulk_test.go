package mysqlsrv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// bulkPacket builds COM_STMT_BULK_EXECUTE without its command byte.
func bulkPacket(id uint32, flags uint16, rest ...[]byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, id)
	b = binary.LittleEndian.AppendUint16(b, flags)
	for _, r := range rest {
		b = append(b, r...)
	}
	return b
}

func errNum(err error) uint16 {
	var e *sqlerr.Error
	if errors.As(err, &e) {
		return e.Num
	}
	return 0
}

func TestBulkHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		num  uint16
	}{
		{"empty", nil, 1835},
		{"id only", []byte{1, 0, 0, 0}, 1835},
		{"id and half the flags", []byte{1, 0, 0, 0, 0x80}, 1835},
		{"unit results", bulkPacket(1, 64|128), 1295},
		{"unknown flag", bulkPacket(1, 1), 1295},
		{"types", bulkPacket(7, 128), 0},
		{"no types", bulkPacket(7, 0), 0},
	} {
		r, err := ParseBulkHeader(tc.data)
		if got := errNum(err); got != tc.num {
			t.Errorf("%s: error %v, want %d", tc.name, err, tc.num)
		}
		if err == nil && r.StmtID != 7 {
			t.Errorf("%s: statement id %d", tc.name, r.StmtID)
		}
	}
}

func TestBulkTypesAndRows(t *testing.T) {
	// INSERT ... VALUES (?, ?, ?) with BIGINT, VARCHAR, unsigned INT, and
	// four rows that use every indicator, byte for byte as Connector/J
	// and the C connector send them.
	data := bulkPacket(3, 128,
		[]byte{mysql.MYSQL_TYPE_LONGLONG, 0, mysql.MYSQL_TYPE_VAR_STRING, 0, mysql.MYSQL_TYPE_LONG, 0x80},
		// row 1: 1, 'a', 4294967295
		[]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0xff, 0xff, 0xff, 0xff},
		// row 2: -2, NULL, DEFAULT
		[]byte{0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2},
		// row 3: IGNORE, '' , 0
		[]byte{3, 0, 0, 0, 0, 0, 0, 0},
		// row 4: NULL NULL NULL
		[]byte{1, 1, 1},
	)
	r, err := ParseBulkHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ParseBulkTypes(3); err != nil {
		t.Fatal(err)
	}
	want := []ParamType{{mysql.MYSQL_TYPE_LONGLONG, false}, {mysql.MYSQL_TYPE_VAR_STRING, false}, {mysql.MYSQL_TYPE_LONG, true}}
	if !reflect.DeepEqual(r.Types, want) {
		t.Fatalf("types %v, want %v", r.Types, want)
	}
	rows, err := r.DecodeBulkRows(r.Types)
	if err != nil {
		t.Fatal(err)
	}
	if rows.Len() != 4 {
		t.Fatalf("%d rows", rows.Len())
	}
	wantVals := [][]any{{int64(1), "a", uint64(4294967295)}, {int64(-2), nil, nil}, {nil, "", uint64(0)}, {nil, nil, nil}}
	wantInds := [][]Indicator{{0, 0, 0}, {0, 1, 2}, {3, 0, 0}, {1, 1, 1}}
	for i := range 4 {
		v, ind := rows.Row(i)
		if !reflect.DeepEqual(v, wantVals[i]) || !reflect.DeepEqual(ind, wantInds[i]) {
			t.Errorf("row %d: %#v %v, want %#v %v", i+1, v, ind, wantVals[i], wantInds[i])
		}
	}
}

func TestBulkRowsRefused(t *testing.T) {
	ll := []ParamType{{Type: mysql.MYSQL_TYPE_LONGLONG}}
	two := []ParamType{{Type: mysql.MYSQL_TYPE_LONGLONG}, {Type: mysql.MYSQL_TYPE_VAR_STRING}}
	for _, tc := range []struct {
		name  string
		types []ParamType
		rows  []byte
		num   uint16
	}{
		{"no rows", ll, nil, 1210},
		{"value cut short", ll, []byte{0, 1, 2, 3}, 1210},
		{"row cut short", two, []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1}, 1210},
		{"string longer than the packet", two, []byte{1, 0, 200, 'x'}, 1210},
		{"bad indicator", ll, []byte{4}, 1210},
		{"unknown type", []ParamType{{Type: 100}}, []byte{1}, 1210},
		{"no parameters", nil, []byte{1}, 1295},
	} {
		r, err := ParseBulkHeader(bulkPacket(1, 0, tc.rows))
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.DecodeBulkRows(tc.types)
		if got := errNum(err); got != tc.num {
			t.Errorf("%s: error %v, want %d", tc.name, err, tc.num)
		}
		if tc.num == 1210 && sqlerr.FromError(err).Message != "Incorrect arguments to mysqld_stmt_bulk_execute" {
			t.Errorf("%s: message %q", tc.name, sqlerr.FromError(err).Message)
		}
	}
	// Types cut short.
	r, _ := ParseBulkHeader(bulkPacket(1, 128, []byte{mysql.MYSQL_TYPE_LONGLONG, 0, mysql.MYSQL_TYPE_LONG}))
	if err := r.ParseBulkTypes(2); errNum(err) != 1835 {
		t.Errorf("types cut short: %v", err)
	}
}

// FuzzBulkExecute: any bytes as the body of COM_STMT_BULK_EXECUTE, for a
// statement of 1 to 4 parameters, give rows or an error: never a panic, and
// never more values than the packet has bytes.
func FuzzBulkExecute(f *testing.F) {
	f.Add(uint8(3), bulkPacket(3, 128,
		[]byte{mysql.MYSQL_TYPE_LONGLONG, 0, mysql.MYSQL_TYPE_VAR_STRING, 0, mysql.MYSQL_TYPE_LONG, 0x80},
		[]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3}))
	f.Add(uint8(1), bulkPacket(1, 128, []byte{mysql.MYSQL_TYPE_DATETIME, 0, 0, 11, 0xe8, 7, 1, 2, 3, 4, 5, 1, 0, 0, 0}))
	f.Add(uint8(1), bulkPacket(1, 128, []byte{mysql.MYSQL_TYPE_NEWDECIMAL, 0, 0, 3, '1', '.', '5', 1}))
	f.Add(uint8(2), bulkPacket(1, 0, []byte{1, 1, 1}))
	f.Fuzz(func(t *testing.T, nparams uint8, data []byte) {
		n := int(nparams%4) + 1
		r, err := ParseBulkHeader(data)
		if err != nil {
			return
		}
		if err := r.ParseBulkTypes(n); err != nil {
			return
		}
		types := r.Types
		if types == nil {
			types = make([]ParamType, n)
			for i := range types {
				types[i] = ParamType{Type: mysql.MYSQL_TYPE_VAR_STRING}
			}
		}
		max := len(data)
		rows, err := r.DecodeBulkRows(types)
		if err != nil {
			if n := errNum(err); n != 1210 && n != 1295 {
				t.Fatalf("error %v", err)
			}
			return
		}
		if rows.Len() == 0 || len(rows.Values) > max || len(rows.Values) != rows.Len()*n {
			t.Fatalf("%d rows, %d values from %d bytes", rows.Len(), len(rows.Values), max)
		}
		// Read in chunks, the rows are the same.
		rr, err := r.RowReader(types)
		if err != nil {
			t.Fatalf("RowReader after DecodeBulkRows: %v", err)
		}
		var all []any
		for chunk := rr.Next(int(nparams%3) + 1); chunk != nil; chunk = rr.Next(int(nparams%3) + 1) {
			all = append(all, chunk.Values...)
		}
		if fmt.Sprint(all) != fmt.Sprint(rows.Values) { // (NaN is not DeepEqual to itself)
			t.Fatalf("chunks %v, all at once %v", all, rows.Values)
		}
	})
}
