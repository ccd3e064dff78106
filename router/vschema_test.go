package router

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/mosaicdb/mosaic/proto/vschemapb"
)

func TestValidateKeyspaceVSchema(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`{"sharded": true, "vindexes": {"h": {"type": "hash"}}, "tables": {"t": {"column_vindexes": [{"column": "id", "name": "h"}]}, "r": {"type": "reference"}}}`, ""},
		{`{"tables": {"s": {"type": "sequence"}}}`, ""},
		{`{"sharded": true, "vindexes": {"h": {"type": "md5"}}}`, `vindex "h": unknown vindex type "md5"`},
		{`{"sharded": true, "vindexes": {"h": {"type": "hash"}}, "tables": {"t": {"column_vindexes": [{"column": "id", "name": "hsh"}]}}}`, `uses vindex "hsh", which is not defined`},
		{`{"sharded": true, "vindexes": {"h": {"type": "hash"}}, "tables": {"t": {"column_vindexes": [{"name": "h"}]}}}`, `column vindex 0 has no column`},
		{`{"sharded": true, "vindexes": {"h": {"type": "hash"}}, "tables": {"t": {}}}`, `needs a column vindex`},
		{`{"sharded": true, "vindexes": {"h": {"type": "hash"}}, "tables": {"t": {"columns": [{"name": "a"}], "column_vindexes": [{"column": "id", "name": "h"}]}}}`, `"id" is not among the table's columns`},
		{`{"vindexes": {"h": {"type": "hash"}}}`, `unsharded keyspace cannot have vindexes`},
		{`{"sharded": true, "tables": {"s": {"type": "sequence"}}}`, `sequence table must be in an unsharded keyspace`},
		{`{"tables": {"t": {"type": "weird"}}}`, `unknown table type "weird"`},
		{`{"tables": {"t": {"auto_increment": {"sequence": "s"}}}}`, `auto_increment has no column`},
		{`{"sharded": true, "tables": {"t": {"pinned": "zz"}}}`, `pinned "zz" is not hex`},
		{`{"tables": {"t": {"column_list_authoritative": true}}}`, `column_list_authoritative needs the table's "columns"`},
		{`{"tables": {"t": {"columns": [{"name": "a"}], "column_list_authoritative": true}}}`, ""},
	} {
		ks := &vschemapb.Keyspace{}
		if err := protojson.Unmarshal([]byte(c.json), ks); err != nil {
			t.Fatal(err)
		}
		err := ValidateKeyspaceVSchema(ks)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.json, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalidVSchema)):
			t.Errorf("%s: got %v, want %q", c.json, err, c.want)
		}
	}
}

func TestBuildVSchemaKeepsBrokenKeyspace(t *testing.T) {
	bad := &vschemapb.Keyspace{Sharded: true, Vindexes: map[string]*vschemapb.Vindex{"h": {Type: "nope"}}}
	vs := BuildVSchema([]KeyspaceInput{{Name: "k", VSchema: bad, Shards: []string{"-80", "80-"}}}, nil)
	if vs.Keyspaces["k"].Error == nil {
		t.Fatal("no error for a broken VSchema")
	}
	r := New(DefaultConfig())
	r.SetVSchema(vs)
	if _, _, err := r.Plan("select * from t", "k", 0); err == nil || !strings.Contains(err.Error(), "unknown vindex type") {
		t.Fatalf("plan on broken keyspace: %v", err)
	}
}
