package querypb_test

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// Statements, settings, results and errors carry MySQL's bytes, which need
// not be UTF-8 (a _binary literal, a latin1 client): they must marshal and
// come back unchanged.
func TestStringsCarryAnyBytes(t *testing.T) {
	raw := "caf\xe9 \xff\xfe\x00"
	msgs := []proto.Message{
		&querypb.ExecuteRequest{Sql: "select '" + raw + "'", Options: &querypb.ExecuteOptions{Settings: []string{"SET @b = _binary'" + raw + "'"}}},
		&querypb.ExecuteResponse{Result: &querypb.QueryResult{
			Fields:      []*querypb.Field{{Name: raw, OrgName: raw, Table: raw, OrgTable: raw, Database: raw}},
			Info:        raw,
			WarningList: []*querypb.Warning{{Level: "Warning", Code: 1366, Message: raw}},
		}},
		&querypb.MySQLError{Code: 1062, State: "23000", Message: "Duplicate entry '" + raw + "' for key 'u'"},
	}
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatalf("marshal %T: %v", m, err)
		}
		back := m.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(b, back); err != nil {
			t.Fatalf("unmarshal %T: %v", m, err)
		}
		if !proto.Equal(m, back) {
			t.Errorf("%T changed in a round trip: %v, want %v", m, back, m)
		}
	}
}

// The wire format is the proto3 one: implicit presence (zero values not
// sent), packed repeated scalars, strings as length-delimited bytes.
func TestWireFormat(t *testing.T) {
	got, err := proto.MarshalOptions{Deterministic: true}.Marshal(&querypb.ExecuteRequest{Sql: "\xff", TransactionId: 0, SmallResult: true})
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	want = protowire.AppendTag(want, 2, protowire.BytesType)
	want = protowire.AppendString(want, "\xff")
	want = protowire.AppendTag(want, 5, protowire.VarintType)
	want = protowire.AppendVarint(want, 1)
	if string(got) != string(want) {
		t.Errorf("ExecuteRequest wire bytes %x, want %x", got, want)
	}
}
