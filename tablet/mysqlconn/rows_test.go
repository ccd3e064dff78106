package mysqlconn

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

func TestRowRoundTrip(t *testing.T) {
	long := bytes.Repeat([]byte("y"), 300) // needs a 0xfc length prefix
	in := [][]byte{[]byte("1"), nil, {}, []byte("héllo"), long}
	row := EncodeRow(in)
	out, err := RowValues(row, len(in))
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if (in[i] == nil) != (out[i] == nil) || !bytes.Equal(in[i], out[i]) {
			t.Errorf("column %d: %q, want %q", i, out[i], in[i])
		}
	}
	if _, err := RowValues(row, len(in)+1); err == nil {
		t.Error("short row decoded")
	}
	if _, err := RowValues(row, len(in)-1); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("long row: %v", err)
	}
}

func TestNamedRows(t *testing.T) {
	res := &querypb.QueryResult{
		Fields: []*querypb.Field{{Name: "a"}, {Name: "b"}},
		Rows:   [][]byte{EncodeRow([][]byte{[]byte("x"), nil})},
	}
	rows, err := NamedRows(res)
	if err != nil {
		t.Fatal(err)
	}
	if rows[0]["a"] != "x" {
		t.Errorf("a = %q", rows[0]["a"])
	}
	if _, ok := rows[0]["b"]; ok {
		t.Error("NULL column present")
	}
}
