package proxy

import (
	"bytes"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// Our column definitions must be byte-for-byte what go-mysql encodes.
func TestColumnDefMatchesGoMySQL(t *testing.T) {
	f := &querypb.Field{Name: "id", OrgName: "id", Table: "t", OrgTable: "t", Database: "commerce", Type: 3, Flags: 0x4203, Charset: 63, ColumnLength: 11, Decimals: 0}
	want := (&mysql.Field{Schema: []byte("commerce"), Table: []byte("t"), OrgTable: []byte("t"), Name: []byte("id"), OrgName: []byte("id"),
		Charset: 63, ColumnLength: 11, Type: 3, Flag: 0x4203}).Dump()
	got := appendColumnDef(nil, f)
	if !bytes.Equal(got, want) {
		t.Fatalf("column def\n got %x\nwant %x", got, want)
	}
}

func TestLenEncInt(t *testing.T) {
	for _, n := range []uint64{0, 250, 251, 65535, 65536, 1<<24 - 1, 1 << 24, 1 << 40} {
		if got, want := appendLenEncInt(nil, n), mysql.PutLengthEncodedInt(n); !bytes.Equal(got, want) {
			t.Errorf("lenenc(%d) = %x, want %x", n, got, want)
		}
	}
}

func TestParseUseTarget(t *testing.T) {
	cases := []struct {
		in, ks, shard string
		tt            string
		bad           bool
	}{
		{in: "commerce", ks: "commerce", tt: "PRIMARY"},
		{in: "commerce@replica", ks: "commerce", tt: "REPLICA"},
		{in: "customer:-80", ks: "customer", shard: "-80", tt: "PRIMARY"},
		{in: "customer:80-@rdonly", ks: "customer", shard: "80-", tt: "RDONLY"},
		{in: "customer@nosuch", bad: true},
		{in: ":-80", bad: true},
	}
	for _, c := range cases {
		ks, shard, tt, err := parseUseTarget(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q: no error", c.in)
			}
			continue
		}
		if err != nil || ks != c.ks || shard != c.shard || tt.String() != c.tt {
			t.Errorf("%q = %q %q %v %v", c.in, ks, shard, tt, err)
		}
	}
}

func TestUseStatement(t *testing.T) {
	for in, want := range map[string]string{
		"use commerce":           "commerce",
		"USE `customer@replica`": "`customer@replica`",
		"  use customer:-80 ;":   "customer:-80",
	} {
		got, ok := useStatement(in)
		if !ok || got != want {
			t.Errorf("useStatement(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"user_table", "select 1", "used"} {
		if _, ok := useStatement(in); ok {
			t.Errorf("useStatement(%q) matched", in)
		}
	}
}
