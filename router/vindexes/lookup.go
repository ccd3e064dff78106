package vindexes

import (
	"fmt"
	"sort"
	"strings"
)

// Lookup is a vindex backed by a lookup table: a table, in some keyspace,
// whose From column holds a value of the owner table's looked-up column
// and whose To column holds the owner row's primary vindex value (its
// sharding column). It has no function from value to keyspace id: the
// router reads the table to find the shards (see the router's lookup
// route), and maintains it when an owner table's rows change.
//
// The four types differ in two ways:
//
//   - unique (lookup_unique, consistent_lookup_unique): a From value has
//     at most one row, and a second is refused with 1062;
//   - consistent (consistent_lookup, consistent_lookup_unique): the lookup
//     table is always written outside the client's transaction, in an
//     order that never leaves an owner row without its entry (the entry
//     before the row, removals after), so no two-phase commit is needed.
//     The plain kinds write inside the transaction unless Autocommit.
type Lookup struct {
	typ string
	// Keyspace and Table name the lookup table ("table" param,
	// "keyspace.table").
	Keyspace, Table string
	// From and To are the lookup table's columns.
	From, To string
	// Unique says a From value has at most one row.
	Unique bool
	// Consistent is set for the consistent_ kinds.
	Consistent bool
	// Autocommit writes a plain kind's entries outside the transaction.
	Autocommit bool
	// WriteOnly says the table is maintained but not yet read: a
	// backfill is filling it.
	WriteOnly bool
	// IgnoreNulls says NULL values get no entry. Entries for NULL are
	// never written whatever it says (a NULL never matches = or IN).
	IgnoreNulls bool
}

// lookupTypes are the lookup vindex types, with (unique, consistent).
var lookupTypes = map[string][2]bool{
	"lookup":                   {false, false},
	"lookup_unique":            {true, false},
	"consistent_lookup":        {false, true},
	"consistent_lookup_unique": {true, true},
}

// lookupParams are the parameters lookup types take.
var lookupParams = map[string]bool{
	"table": true, "from": true, "to": true, "autocommit": true, "write_only": true, "ignore_nulls": true,
}

// IsLookupType reports whether typ is one of the lookup vindex types.
func IsLookupType(typ string) bool {
	_, ok := lookupTypes[typ]
	return ok
}

func newLookup(typ string, params map[string]string) (Vindex, error) {
	kind := lookupTypes[typ]
	l := &Lookup{typ: typ, Unique: kind[0], Consistent: kind[1]}
	for _, k := range sortedParams(params) {
		if !lookupParams[k] {
			return nil, fmt.Errorf("vindex type %s takes no parameter %q (it takes table, from, to, autocommit, write_only, ignore_nulls)", typ, k)
		}
	}
	table := params["table"]
	ks, tbl, ok := strings.Cut(table, ".")
	if !ok || ks == "" || tbl == "" || strings.Contains(tbl, ".") {
		return nil, fmt.Errorf("vindex type %s: parameter \"table\" must be \"keyspace.table\", got %q", typ, table)
	}
	l.Keyspace, l.Table = ks, tbl
	l.From, l.To = params["from"], params["to"]
	if l.From == "" || l.To == "" {
		return nil, fmt.Errorf("vindex type %s needs parameters \"from\" and \"to\" (the lookup table's columns)", typ)
	}
	if strings.Contains(l.From, ",") {
		return nil, fmt.Errorf("vindex type %s: multi-column \"from\" %q is not supported", typ, l.From)
	}
	var err error
	if l.Autocommit, err = boolParam(typ, params, "autocommit"); err != nil {
		return nil, err
	}
	if l.Autocommit && l.Consistent {
		return nil, fmt.Errorf("vindex type %s: \"autocommit\" is for lookup and lookup_unique (the consistent kinds order their writes instead)", typ)
	}
	if l.WriteOnly, err = boolParam(typ, params, "write_only"); err != nil {
		return nil, err
	}
	if l.IgnoreNulls, err = boolParam(typ, params, "ignore_nulls"); err != nil {
		return nil, err
	}
	return l, nil
}

func boolParam(typ string, params map[string]string, name string) (bool, error) {
	switch strings.ToLower(params[name]) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, fmt.Errorf("vindex type %s: parameter %q must be true or false, got %q", typ, name, params[name])
}

func sortedParams(params map[string]string) []string {
	out := make([]string, 0, len(params))
	for k := range params {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (l *Lookup) Type() string { return l.typ }

// Map never maps: the keyspace id of a looked-up value is found by
// reading the lookup table, which the router does. Code that only knows
// Map looks on every shard, as for any value it cannot map.
func (l *Lookup) Map(any) ([]byte, bool) { return nil, false }

// TableName returns "keyspace.table".
func (l *Lookup) TableName() string { return l.Keyspace + "." + l.Table }

// AsLookup returns v as a *Lookup when it is one.
func AsLookup(v Vindex) (*Lookup, bool) {
	l, ok := v.(*Lookup)
	return l, ok
}
