package mysqlsrv

import (
	"bytes"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"testing"
)

// Our column definitions must be byte-for-byte what go-mysql encodes.
func TestColumnDefMatchesGoMySQL(t *testing.T) {
	f := &querypb.Field{Name: "id", OrgName: "id", Table: "t", OrgTable: "t", Database: "commerce", Type: 3, Flags: 0x4203, Charset: 63, ColumnLength: 11, Decimals: 0}
	want := (&mysql.Field{Schema: []byte("commerce"), Table: []byte("t"), OrgTable: []byte("t"), Name: []byte("id"), OrgName: []byte("id"),
		Charset: 63, ColumnLength: 11, Type: 3, Flag: 0x4203}).Dump()
	got := AppendColumnDef(nil, f)
	if !bytes.Equal(got, want) {
		t.Fatalf("column def\n got %x\nwant %x", got, want)
	}
}

func TestLenEncInt(t *testing.T) {
	for _, n := range []uint64{0, 250, 251, 65535, 65536, 1<<24 - 1, 1 << 24, 1 << 40} {
		if got, want := AppendLenEncInt(nil, n), mysql.PutLengthEncodedInt(n); !bytes.Equal(got, want) {
			t.Errorf("lenenc(%d) = %x, want %x", n, got, want)
		}
	}
}
