package vindexes

import (
	"strings"
	"testing"
)

func TestLookupTypes(t *testing.T) {
	params := map[string]string{"table": "lookup.corder_order_id_lookup", "from": "order_id", "to": "customer_id"}
	for _, c := range []struct {
		typ                string
		unique, consistent bool
	}{
		{"lookup", false, false},
		{"lookup_unique", true, false},
		{"consistent_lookup", false, true},
		{"consistent_lookup_unique", true, true},
	} {
		v, err := New(c.typ, params)
		if err != nil {
			t.Fatalf("%s: %v", c.typ, err)
		}
		l, ok := AsLookup(v)
		if !ok {
			t.Fatalf("%s: not a lookup", c.typ)
		}
		if l.Type() != c.typ || l.Unique != c.unique || l.Consistent != c.consistent {
			t.Errorf("%s: got type %s unique %v consistent %v", c.typ, l.Type(), l.Unique, l.Consistent)
		}
		if l.Keyspace != "lookup" || l.Table != "corder_order_id_lookup" || l.From != "order_id" || l.To != "customer_id" {
			t.Errorf("%s: params read as %+v", c.typ, l)
		}
		if l.TableName() != "lookup.corder_order_id_lookup" {
			t.Errorf("%s: TableName %s", c.typ, l.TableName())
		}
		if _, ok := v.Map(int64(1)); ok {
			t.Errorf("%s: Map mapped a value; a lookup must be read", c.typ)
		}
	}
	v, err := New("lookup", map[string]string{"table": "ks.t", "from": "a", "to": "b", "autocommit": "true", "write_only": "1", "ignore_nulls": "false"})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := AsLookup(v)
	if !l.Autocommit || !l.WriteOnly || l.IgnoreNulls {
		t.Errorf("flags read as %+v", l)
	}
	if _, ok := AsLookup(Hash{}); ok {
		t.Error("hash is a lookup")
	}
}

func TestLookupParamErrors(t *testing.T) {
	for _, c := range []struct {
		typ    string
		params map[string]string
		want   string
	}{
		{"lookup", nil, `"keyspace.table"`},
		{"lookup", map[string]string{"table": "t", "from": "a", "to": "b"}, `"keyspace.table"`},
		{"lookup", map[string]string{"table": "ks.t", "to": "b"}, `"from" and "to"`},
		{"lookup", map[string]string{"table": "ks.t", "from": "a,b", "to": "c"}, "multi-column"},
		{"lookup", map[string]string{"table": "ks.t", "from": "a", "to": "b", "autocomit": "true"}, `no parameter "autocomit"`},
		{"lookup", map[string]string{"table": "ks.t", "from": "a", "to": "b", "write_only": "yes"}, `"write_only" must be true or false`},
		{"consistent_lookup", map[string]string{"table": "ks.t", "from": "a", "to": "b", "autocommit": "true"}, "order their writes"},
		{"hash", map[string]string{"table": "ks.t"}, "takes no parameter"},
	} {
		_, err := New(c.typ, c.params)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: err %v, want it to say %s", c.typ, c.params, err, c.want)
		}
	}
}
