package mysqlsrv

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// written runs write on a PacketWriter and returns the packets' payloads.
func written(t *testing.T, write func(p *PacketWriter) error) [][]byte {
	t.Helper()
	server, client := net.Pipe()
	got := make(chan []byte)
	go func() { b, _ := io.ReadAll(client); got <- b }()
	pw := NewPacketWriter(&PacketConn{Conn: NewBufConn(server)})
	if err := write(pw); err != nil {
		t.Fatal(err)
	}
	if err := pw.Flush(); err != nil {
		t.Fatal(err)
	}
	server.Close()
	raw := <-got
	var out [][]byte
	for len(raw) >= 4 {
		n := int(raw[0]) | int(raw[1])<<8 | int(raw[2])<<16
		out = append(out, raw[4:4+n])
		raw = raw[4+n:]
	}
	return out
}

// The header of a binary result set for a client that caches column
// definitions, byte for byte as MariaDB 10.11 sends it: the count, then 1
// and the definitions, or 0 and none; the EOF either way.
func TestWriteFieldsCached(t *testing.T) {
	id := &querypb.Field{Name: "id", OrgName: "id", Table: "cm", OrgTable: "cm", Database: "d", Type: 8, Charset: 63, ColumnLength: 20, Flags: 0x5003}
	v := &querypb.Field{Name: "v", OrgName: "v", Table: "cm", OrgTable: "cm", Database: "d", Type: 253, Charset: 45, ColumnLength: 80}
	eof := []byte{0xfe, 0, 0, 2, 0}
	var cache ColumnCache
	first := written(t, func(p *PacketWriter) error { return p.WriteFieldsCached([]*querypb.Field{id, v}, 2, &cache) })
	want := [][]byte{{2, 1}, AppendColumnDef(nil, id), AppendColumnDef(nil, v), eof}
	if len(first) != len(want) {
		t.Fatalf("first: %d packets % x", len(first), first)
	}
	for i := range want {
		if !bytes.Equal(first[i], want[i]) {
			t.Errorf("first, packet %d: % x, want % x", i, first[i], want[i])
		}
	}
	// The same columns again: the client has them.
	again := written(t, func(p *PacketWriter) error { return p.WriteFieldsCached([]*querypb.Field{id, v}, 2, &cache) })
	if len(again) != 2 || !bytes.Equal(again[0], []byte{2, 0}) || !bytes.Equal(again[1], eof) {
		t.Errorf("again: % x", again)
	}
	// A column that changed (ALTER TABLE made v longer): sent again, and
	// remembered.
	v2 := &querypb.Field{Name: "v", OrgName: "v", Table: "cm", OrgTable: "cm", Database: "d", Type: 253, Charset: 45, ColumnLength: 200}
	changed := written(t, func(p *PacketWriter) error { return p.WriteFieldsCached([]*querypb.Field{id, v2}, 2, &cache) })
	if len(changed) != 4 || !bytes.Equal(changed[0], []byte{2, 1}) || !bytes.Equal(changed[2], AppendColumnDef(nil, v2)) {
		t.Errorf("changed: % x", changed)
	}
	if after := written(t, func(p *PacketWriter) error { return p.WriteFieldsCached([]*querypb.Field{id, v2}, 2, &cache) }); len(after) != 2 {
		t.Errorf("after the change: % x", after)
	}
	// Without a cache (a CALL's result sets) they always go.
	if none := written(t, func(p *PacketWriter) error { return p.WriteFieldsCached([]*querypb.Field{id}, 2, nil) }); len(none) != 3 || !bytes.Equal(none[0], []byte{1, 1}) {
		t.Errorf("no cache: % x", none)
	}
}
