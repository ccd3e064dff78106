package router

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// lookupRun plans sql on testdata's VSchema and runs it on f with the
// session's @@in_transaction set to inTx; it returns the recorded lines.
func lookupRun(t *testing.T, f *shardFake, sql string, inTx bool) ([]string, error) {
	t.Helper()
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	p, bv, err := r.Plan(sql, "customer", 0)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	bv = withBinds(bv)
	if inTx {
		bv[InTransactionBind] = int64(1)
	} else {
		bv[InTransactionBind] = int64(0)
	}
	_, err = p.Execute(t.Context(), f, bv)
	return f.lines, err
}

func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// customer_id 1 hashes to 80-, 2 and 4 to -80 (see the golden cases).
func TestLookupRead(t *testing.T) {
	f := &shardFake{bySQL: map[string]map[string]*querypb.QueryResult{
		"FROM `lorder_order_id_lookup`": {"commerce/0": result([]string{"order_id:8", "customer_id:8"}, "5|1", "6|4")},
	}}
	lines, err := lookupRun(t, f, "select * from lorder where order_id in (5, 6, 7)", false)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, lines,
		"ExecuteAutocommit commerce/0 SELECT `order_id`, `customer_id` FROM `lorder_order_id_lookup` WHERE `order_id` IN (5, 6, 7)",
		"Execute customer/-80 SELECT * FROM `lorder` WHERE `order_id` IN (5,6,7)",
		"Execute customer/80- SELECT * FROM `lorder` WHERE `order_id` IN (5,6,7)")

	// No entry: one shard still answers, for the fields.
	f = &shardFake{}
	lines, err = lookupRun(t, f, "select * from lorder where order_id = 9", false)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, lines,
		"ExecuteAutocommit commerce/0 SELECT `order_id`, `customer_id` FROM `lorder_order_id_lookup` WHERE `order_id` IN (9)",
		"Execute customer/-80 SELECT * FROM `lorder` WHERE `order_id` = 9")

	// A plain lookup is read in the session (its transaction, if any);
	// a lookup table in a sharded keyspace on the shard of the value.
	f = &shardFake{bySQL: map[string]map[string]*querypb.QueryResult{
		"FROM `lorder_sku_lookup`": {"commerce/0": result([]string{"sku:253", "customer_id:8"}, "a|1")},
	}}
	lines, _ = lookupRun(t, f, "select * from lorder where sku = 'a'", false)
	wantLines(t, lines,
		"Execute commerce/0 SELECT `sku`, `customer_id` FROM `lorder_sku_lookup` WHERE `sku` IN ('a')",
		"Execute customer/80- SELECT * FROM `lorder` WHERE `sku` = 'a'")
	f = &shardFake{}
	lines, _ = lookupRun(t, f, "select * from luser where email = 'a@x'", false)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ExecuteAutocommit customer/") || !strings.Contains(lines[0], "FROM `luser_email_lookup` WHERE `email` IN ('a@x')") {
		t.Errorf("calls %q", lines)
	}
}

func TestLookupExplainShards(t *testing.T) {
	f := &shardFake{bySQL: map[string]map[string]*querypb.QueryResult{
		"FROM `lorder_order_id_lookup`": {"commerce/0": result([]string{"order_id:8", "customer_id:8"}, "5|1")},
	}}
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	p, bv, err := r.Plan("explain format=mosaic select * from lorder where order_id = 5", "customer", 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Execute(t.Context(), f, bv)
	if err != nil {
		t.Fatal(err)
	}
	rows := rowsOf(t, res)
	if len(rows) != 1 || !strings.Contains(rows[0], "|ByLookup|customer|80-|") || !strings.Contains(rows[0], "lorder_order_id_lookup") {
		t.Errorf("explain rows %q", rows)
	}
}

func TestLookupInsert(t *testing.T) {
	f := &shardFake{bySQL: map[string]map[string]*querypb.QueryResult{
		"SELECT `order_id`, `customer_id` FROM `lorder_order_id_lookup`": {"commerce/0": result([]string{"order_id:8", "customer_id:8"}, "1|1")},
	}}
	lines, err := lookupRun(t, f, "insert into lorder (order_id, customer_id, sku) values (1, 1, 'a')", false)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, lines,
		// the entries first, in a side transaction that keeps them locked;
		// the unique one checked under its lock
		"BeginSide commerce/0",
		"Side commerce/0 INSERT INTO `lorder_order_id_lookup` (`order_id`, `customer_id`) VALUES (1, 1) ON DUPLICATE KEY UPDATE `customer_id` = `customer_id`",
		"Side commerce/0 SELECT `order_id`, `customer_id` FROM `lorder_order_id_lookup` WHERE `order_id` IN (1) FOR UPDATE",
		// outside a transaction the plain lookup too
		"Side commerce/0 INSERT INTO `lorder_sku_lookup` (`sku`, `customer_id`) VALUES ('a', 1) ON DUPLICATE KEY UPDATE `customer_id` = `customer_id`",
		// the row, in a transaction of its own, committed after the entries
		"BeginSide customer/80-",
		"Side customer/80- INSERT INTO `lorder` (`order_id`,`customer_id`,`sku`) VALUES (1, 1, 'a')",
		"Commit commerce/0",
		"Commit customer/80-")

	// In a transaction the plain lookup is written in it, and the row too;
	// the consistent lookup's side transaction commits after the row's
	// statement.
	f = &shardFake{bySQL: f.bySQL}
	lines, _ = lookupRun(t, f, "insert into lorder (order_id, customer_id, sku) values (1, 1, 'a')", true)
	wantLines(t, lines,
		"BeginSide commerce/0",
		"Side commerce/0 INSERT INTO `lorder_order_id_lookup` (`order_id`, `customer_id`) VALUES (1, 1) ON DUPLICATE KEY UPDATE `customer_id` = `customer_id`",
		"Side commerce/0 SELECT `order_id`, `customer_id` FROM `lorder_order_id_lookup` WHERE `order_id` IN (1) FOR UPDATE",
		"Execute commerce/0 INSERT INTO `lorder_sku_lookup` (`sku`, `customer_id`) VALUES ('a', 1) ON DUPLICATE KEY UPDATE `customer_id` = `customer_id`",
		"Execute customer/80- INSERT INTO `lorder` (`order_id`,`customer_id`,`sku`) VALUES (1, 1, 'a')",
		"Commit commerce/0")
}

func TestLookupUniqueDuplicate(t *testing.T) {
	// The entry of order 1 names customer 2, whose row exists.
	f := &shardFake{bySQL: map[string]map[string]*querypb.QueryResult{
		"SELECT `order_id`, `customer_id` FROM `lorder_order_id_lookup`": {"commerce/0": result([]string{"order_id:8", "customer_id:8"}, "1|2")},
		"LOCK IN SHARE MODE": {"customer/-80": result([]string{"order_id:8", "customer_id:8"}, "1|2")},
	}}
	lines, err := lookupRun(t, f, "insert into lorder (order_id, customer_id) values (1, 1)", false)
	var se *sqlerr.Error
	if !errors.As(err, &se) || se.Num != sqlerr.ERDupEntry || se.State != "23000" || !strings.Contains(se.Message, "Duplicate entry '1' for key 'lorder_order_id_lookup'") {
		t.Fatalf("err %v, want 1062", err)
	}
	wantLines(t, lines,
		"BeginSide commerce/0",
		"Side commerce/0 INSERT INTO `lorder_order_id_lookup` (`order_id`, `customer_id`) VALUES (1, 1) ON DUPLICATE KEY UPDATE `customer_id` = `customer_id`",
		"Side commerce/0 SELECT `order_id`, `customer_id` FROM `lorder_order_id_lookup` WHERE `order_id` IN (1) FOR UPDATE",
		// does the row the entry names exist? (it waits for its writers)
		"ExecuteAutocommit customer/-80 SELECT `order_id`, `customer_id` FROM `lorder` WHERE (`order_id`, `customer_id`) IN (('1', '2')) LOCK IN SHARE MODE",
		// it does: nothing is written, the side transaction rolls back
		"Rollback commerce/0")

	// Inside a transaction the owner is read without waiting: the
	// transaction may hold the row itself.
	f = &shardFake{bySQL: f.bySQL}
	if _, err := lookupRun(t, f, "insert into lorder (order_id, customer_id) values (1, 1)", true); !errors.As(err, &se) || se.Num != sqlerr.ERDupEntry {
		t.Fatalf("in a transaction: err %v, want 1062", err)
	}
	if all := strings.Join(f.lines, "\n"); !strings.Contains(all, "LOCK IN SHARE MODE NOWAIT") {
		t.Errorf("in a transaction:\n%s", all)
	}
}

func TestLookupUniqueTakeover(t *testing.T) {
	// The entry of order 1 names customer 2, which has no such row (a
	// stale entry): the insert takes it over, under the entry's lock.
	f := &shardFake{bySQL: map[string]map[string]*querypb.QueryResult{
		"SELECT `order_id`, `customer_id` FROM `lorder_order_id_lookup`": {"commerce/0": result([]string{"order_id:8", "customer_id:8"}, "1|2")},
		"LOCK IN SHARE MODE": {"customer/-80": result([]string{"order_id:8", "customer_id:8"})},
	}}
	lines, err := lookupRun(t, f, "insert into lorder (order_id, customer_id) values (1, 1)", false)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, lines,
		"BeginSide commerce/0",
		"Side commerce/0 INSERT INTO `lorder_order_id_lookup` (`order_id`, `customer_id`) VALUES (1, 1) ON DUPLICATE KEY UPDATE `customer_id` = `customer_id`",
		"Side commerce/0 SELECT `order_id`, `customer_id` FROM `lorder_order_id_lookup` WHERE `order_id` IN (1) FOR UPDATE",
		"ExecuteAutocommit customer/-80 SELECT `order_id`, `customer_id` FROM `lorder` WHERE (`order_id`, `customer_id`) IN (('1', '2')) LOCK IN SHARE MODE",
		"Side commerce/0 UPDATE `lorder_order_id_lookup` SET `customer_id` = '1' WHERE (`order_id`, `customer_id`) IN (('1', '2'))",
		"BeginSide customer/80-",
		"Side customer/80- INSERT INTO `lorder` (`order_id`,`customer_id`) VALUES (1, 1)",
		"Commit commerce/0",
		"Commit customer/80-")
}

func TestLookupDelete(t *testing.T) {
	rows := map[string]*querypb.QueryResult{"customer/80-": result([]string{"customer_id:8", "order_id:8", "sku:253", "note:253"}, "1|5|a|NULL")}
	f := &shardFake{bySQL: map[string]map[string]*querypb.QueryResult{"FOR UPDATE": rows}}
	lines, err := lookupRun(t, f, "delete from lorder where customer_id = 1", false)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, lines,
		"Execute customer/80- SELECT `customer_id`,`order_id`,`sku`,`note` FROM `lorder` WHERE `customer_id` = 1 FOR UPDATE",
		// only the rows read: a row may change between the statements
		"BeginSide customer/80-",
		"Side customer/80- DELETE FROM `lorder` WHERE (`customer_id` = 1) AND `customer_id` IN ('1')",
		"Commit customer/80-",
		// after the row: its entries, each put back if a row still has it,
		// in one transaction (a reader never sees a needed entry gone)
		"BeginSide commerce/0",
		"Side commerce/0 DELETE FROM `lorder_order_id_lookup` WHERE (`order_id`, `customer_id`) IN (('5', '1'))",
		"ExecuteAutocommit customer/80- SELECT `order_id`, `customer_id` FROM `lorder` WHERE (`order_id`, `customer_id`) IN (('5', '1')) LOCK IN SHARE MODE NOWAIT",
		"Commit commerce/0",
		"BeginSide commerce/0",
		"Side commerce/0 DELETE FROM `lorder_sku_lookup` WHERE (`sku`, `customer_id`) IN (('a', '1'))",
		"ExecuteAutocommit customer/80- SELECT `sku`, `customer_id` FROM `lorder` WHERE (`sku`, `customer_id`) IN (('a', '1')) LOCK IN SHARE MODE NOWAIT",
		"Commit commerce/0")

	// In a transaction the consistent lookups' entries stay (the delete
	// is not committed); the plain lookup's go in the transaction.
	f = &shardFake{bySQL: map[string]map[string]*querypb.QueryResult{"FOR UPDATE": rows}}
	lines, _ = lookupRun(t, f, "delete from lorder where customer_id = 1", true)
	wantLines(t, lines,
		"Execute customer/80- SELECT `customer_id`,`order_id`,`sku`,`note` FROM `lorder` WHERE `customer_id` = 1 FOR UPDATE",
		"Execute customer/80- DELETE FROM `lorder` WHERE (`customer_id` = 1) AND `customer_id` IN ('1')",
		"Execute commerce/0 DELETE FROM `lorder_sku_lookup` WHERE (`sku`, `customer_id`) IN (('a', '1'))",
		"Execute customer/80- SELECT `sku`, `customer_id` FROM `lorder` WHERE (`sku`, `customer_id`) IN (('a', '1')) LOCK IN SHARE MODE")
}

func TestLookupDeletePutsBack(t *testing.T) {
	// Another row of the customer still has the old value: its entry is
	// put back in the transaction that deleted it.
	f := &shardFake{bySQL: map[string]map[string]*querypb.QueryResult{
		"FOR UPDATE":         {"customer/80-": result([]string{"customer_id:8", "sku:253"}, "1|a")},
		"LOCK IN SHARE MODE": {"customer/80-": result([]string{"sku:253", "customer_id:8"}, "a|1")},
	}}
	lines, err := lookupRun(t, f, "update lorder set sku = 'b' where customer_id = 1", false)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, lines,
		"Execute customer/80- SELECT `customer_id`,`sku` FROM `lorder` WHERE `customer_id` = 1 FOR UPDATE",
		"BeginSide commerce/0",
		"Side commerce/0 INSERT INTO `lorder_sku_lookup` (`sku`, `customer_id`) VALUES ('b', '1') ON DUPLICATE KEY UPDATE `customer_id` = `customer_id`",
		"BeginSide customer/80-",
		"Side customer/80- UPDATE `lorder` SET `sku`='b' WHERE (`customer_id` = 1) AND `customer_id` IN ('1')",
		"Commit commerce/0",
		"Commit customer/80-",
		"BeginSide commerce/0",
		"Side commerce/0 DELETE FROM `lorder_sku_lookup` WHERE (`sku`, `customer_id`) IN (('a', '1'))",
		"ExecuteAutocommit customer/80- SELECT `sku`, `customer_id` FROM `lorder` WHERE (`sku`, `customer_id`) IN (('a', '1')) LOCK IN SHARE MODE NOWAIT",
		"Side commerce/0 INSERT INTO `lorder_sku_lookup` (`sku`, `customer_id`) VALUES ('a', '1') ON DUPLICATE KEY UPDATE `customer_id` = `customer_id`",
		"Commit commerce/0")
}

func TestLookupDMLNoRows(t *testing.T) {
	f := &shardFake{bySQL: map[string]map[string]*querypb.QueryResult{
		"FOR UPDATE": {"customer/80-": result([]string{"customer_id:8", "sku:253"})},
	}}
	lines, err := lookupRun(t, f, "update lorder set sku = 'b' where customer_id = 1", false)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, lines, "Execute customer/80- SELECT `customer_id`,`sku` FROM `lorder` WHERE `customer_id` = 1 FOR UPDATE")
}

// TestLookupVSchemaRefusals: the errors a VSchema with a wrong lookup gets.
func TestLookupVSchemaRefusals(t *testing.T) {
	lookup := func(owner string) *vschemapb.Vindex {
		return &vschemapb.Vindex{Type: "consistent_lookup_unique", Owner: owner,
			Params: map[string]string{"table": "lk.t_code", "from": "code", "to": "id"}}
	}
	cols := []*vschemapb.Column{{Name: "id"}, {Name: "name"}}
	for _, c := range []struct {
		name string
		ks   *vschemapb.Keyspace
		want string
	}{
		{"a lookup on a column the table lacks", &vschemapb.Keyspace{Sharded: true,
			Vindexes: map[string]*vschemapb.Vindex{"hash": {Type: "hash"}, "lk": lookup("t")},
			Tables: map[string]*vschemapb.Table{"t": {Columns: cols, ColumnVindexes: []*vschemapb.ColumnVindex{
				{Column: "id", Name: "hash"}, {Column: "code", Name: "lk"}}}}},
			`column vindex column "code" is not among the table's columns`},
		{"a lookup as the primary vindex", &vschemapb.Keyspace{Sharded: true,
			Vindexes: map[string]*vschemapb.Vindex{"lk": lookup("t")},
			Tables:   map[string]*vschemapb.Table{"t": {ColumnVindexes: []*vschemapb.ColumnVindex{{Column: "code", Name: "lk"}}}}},
			"cannot be the primary (first) vindex"},
		{"an owner that does not use its lookup", &vschemapb.Keyspace{Sharded: true,
			Vindexes: map[string]*vschemapb.Vindex{"hash": {Type: "hash"}, "lk": lookup("u")},
			Tables:   map[string]*vschemapb.Table{"t": {ColumnVindexes: []*vschemapb.ColumnVindex{{Column: "id", Name: "hash"}, {Column: "code", Name: "lk"}}}}},
			`owner table "u" does not use it`},
		{"bad params", &vschemapb.Keyspace{Sharded: true,
			Vindexes: map[string]*vschemapb.Vindex{"hash": {Type: "hash"}, "lk": {Type: "lookup", Params: map[string]string{"table": "t_code"}}},
			Tables:   map[string]*vschemapb.Table{"t": {ColumnVindexes: []*vschemapb.ColumnVindex{{Column: "id", Name: "hash"}, {Column: "code", Name: "lk"}}}}},
			`"keyspace.table"`},
	} {
		err := ValidateKeyspaceVSchema(c.ks)
		if !errors.Is(err, ErrInvalidVSchema) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want it to say %s", c.name, err, c.want)
		}
	}

	// The owner's lookup table in a keyspace that does not exist, and in a
	// sharded keyspace that does not list it: writes to the owner fail
	// with the reason.
	owner := &vschemapb.Keyspace{Sharded: true,
		Vindexes: map[string]*vschemapb.Vindex{"hash": {Type: "hash"}, "lk": lookup("t")},
		Tables:   map[string]*vschemapb.Table{"t": {ColumnVindexes: []*vschemapb.ColumnVindex{{Column: "id", Name: "hash"}, {Column: "code", Name: "lk"}}}}}
	for _, c := range []struct {
		lk   *vschemapb.Keyspace
		want string
	}{
		{nil, "its table lk.t_code is in keyspace lk, which does not exist"},
		{&vschemapb.Keyspace{Sharded: true, Vindexes: map[string]*vschemapb.Vindex{"hash": {Type: "hash"}}}, "its table lk.t_code is not in keyspace lk's VSchema"},
		{&vschemapb.Keyspace{Sharded: true, Vindexes: map[string]*vschemapb.Vindex{"hash": {Type: "hash"}},
			Tables: map[string]*vschemapb.Table{"t_code": {ColumnVindexes: []*vschemapb.ColumnVindex{{Column: "id", Name: "hash"}}}}}, `must be sharded by its "from" column code`},
		{&vschemapb.Keyspace{Tables: map[string]*vschemapb.Table{"t_code": {Columns: []*vschemapb.Column{{Name: "code"}}}}}, "has no column id"},
	} {
		in := []KeyspaceInput{{Name: "main", VSchema: owner, Shards: []string{"-80", "80-"}}}
		if c.lk != nil {
			shards := []string{"0"}
			if c.lk.Sharded {
				shards = []string{"-80", "80-"}
			}
			in = append(in, KeyspaceInput{Name: "lk", VSchema: c.lk, Shards: shards})
		}
		r := New(DefaultConfig())
		r.SetVSchema(BuildVSchema(in, nil))
		_, _, err := r.Plan("insert into t (id, code) values (1, 2)", "main", 0)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("insert: %v, want it to say %s", err, c.want)
		}
		_, _, err = r.Plan("update t set code = 3 where id = 1", "main", 0)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("update: %v, want it to say %s", err, c.want)
		}
	}
}

// TestLookupBulkInsert: an INSERT too big for the plan caches, which the
// gate plans from its first row, still adds every row's entries.
func TestLookupBulkInsert(t *testing.T) {
	var rows []string
	for i := 0; i < 1500; i++ {
		rows = append(rows, fmt.Sprintf("(%d, %d, 'sku-%d')", 1000+i, i, i))
	}
	sql := "insert into lorder (order_id, customer_id, sku) values " + strings.Join(rows, ", ")
	if len(sql) <= maxCachedText {
		t.Fatalf("statement of %d bytes is not a bulk insert", len(sql))
	}
	f := &shardFake{}
	lines, err := lookupRun(t, f, sql, false)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{"(1000, 0)", "(2499, 1499)", "('sku-1499', 1499)"} {
		if !strings.Contains(all, want) {
			t.Errorf("no entry %s written", want)
		}
	}
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	if _, _, err := r.Plan("load data local infile 'x.csv' into table lorder", "customer", 0); err == nil || !strings.Contains(err.Error(), "owns lookup vindex") {
		t.Errorf("LOAD DATA into an owner: %v", err)
	}
}

// TestLookupDMLTargetsRowsRead: a DELETE routed by a lookup reads the
// lookup table once; the DELETE goes to the shards of the rows read, each
// with its own rows' sharding values.
func TestLookupDMLTargetsRowsRead(t *testing.T) {
	fields := []string{"customer_id:8", "order_id:8", "sku:253", "note:253"}
	f := &shardFake{bySQL: map[string]map[string]*querypb.QueryResult{
		"FROM `lorder_order_id_lookup`": {"commerce/0": result([]string{"order_id:8", "customer_id:8"}, "5|1", "6|4")},
		"FOR UPDATE": {
			"customer/80-": result(fields, "1|5|NULL|NULL"),
			"customer/-80": result(fields, "4|6|NULL|NULL"),
		},
	}}
	lines, err := lookupRun(t, f, "delete from lorder where order_id in (5, 6)", false)
	if err != nil {
		t.Fatal(err)
	}
	var dml []string
	reads := 0
	for _, l := range lines {
		if strings.Contains(l, "SELECT `order_id`, `customer_id` FROM `lorder_order_id_lookup`") {
			reads++
		}
		if strings.Contains(l, "DELETE FROM `lorder` ") {
			dml = append(dml, l)
		}
	}
	if reads != 1 {
		t.Errorf("lookup table read %d times, want once:\n%s", reads, strings.Join(lines, "\n"))
	}
	wantLines(t, dml,
		"Side customer/-80 DELETE FROM `lorder` WHERE (`order_id` IN (5,6)) AND `customer_id` IN ('4')",
		"Side customer/80- DELETE FROM `lorder` WHERE (`order_id` IN (5,6)) AND `customer_id` IN ('1')")
}

// TestLookupKeyspaceNotTouched: a plan's keyspaces (which the gate checks
// an account's access against) are the owner's only; the lookup table's
// keyspace is the gate's own business, as a sequence's is.
func TestLookupKeyspaceNotTouched(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	for _, q := range []string{
		"select * from lorder where order_id = 1",
		"insert into lorder (order_id, customer_id) values (1, 2)",
		"delete from lorder where order_id = 1",
	} {
		p, _, err := r.Plan(q, "customer", 0)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(p.Keyspaces, ",") != "customer" {
			t.Errorf("%s: keyspaces %q", q, p.Keyspaces)
		}
	}
}

// failOn is a shardFake whose queries containing fail get err.
type failOn struct {
	*shardFake
	fail string
	err  error
}

func (f *failOn) check(qs []ShardQuery) error {
	for _, q := range qs {
		if strings.Contains(q.SQL, f.fail) {
			return f.err
		}
	}
	return nil
}

func (f *failOn) Execute(ctx context.Context, qs []ShardQuery) ([]*querypb.QueryResult, error) {
	if err := f.check(qs); err != nil {
		return nil, err
	}
	return f.shardFake.Execute(ctx, qs)
}

func (f *failOn) BeginSide(ctx context.Context, ks, shard string, _ bool) (SideTx, error) {
	f.record("BeginSide " + ks + "/" + shard)
	return &fakeSide{f: f.shardFake, ks: ks, shard: shard, fail: func(sql string) error {
		return f.check([]ShardQuery{{SQL: sql}})
	}}, nil
}

func (f *failOn) ExecuteAutocommit(ctx context.Context, qs []ShardQuery) ([]*querypb.QueryResult, error) {
	if err := f.check(qs); err != nil {
		return nil, err
	}
	return f.shardFake.ExecuteAutocommit(ctx, qs)
}

// TestLookupErrors: a failed owner write rolls back the side transaction
// that holds its entries; a failed removal after the rows were written
// leaves the entries (stale, safe) and does not fail the statement.
func TestLookupErrors(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	run := func(f ShardExecutor, q string) error {
		p, bv, err := r.Plan(q, "customer", 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Execute(t.Context(), f, bv)
		return err
	}
	f := &failOn{shardFake: &shardFake{}, fail: "INSERT INTO `lorder` ", err: sqlerr.New(sqlerr.ERDupEntry, "Duplicate entry '7' for key 'PRIMARY'")}
	err := run(f, "insert into lorder (order_id, customer_id) values (7, 1)")
	var se *sqlerr.Error
	if !errors.As(err, &se) || se.Num != sqlerr.ERDupEntry {
		t.Fatalf("owner insert failure: %v", err)
	}
	wantLines(t, f.lines,
		"BeginSide commerce/0",
		"Side commerce/0 INSERT INTO `lorder_order_id_lookup` (`order_id`, `customer_id`) VALUES (7, 1) ON DUPLICATE KEY UPDATE `customer_id` = `customer_id`",
		"Side commerce/0 SELECT `order_id`, `customer_id` FROM `lorder_order_id_lookup` WHERE `order_id` IN (7) FOR UPDATE",
		"BeginSide customer/80-",
		"Side customer/80- INSERT INTO `lorder` (`order_id`,`customer_id`) VALUES (7, 1) -> error",
		"Rollback commerce/0",
		"Rollback customer/80-")

	// The removal after a DELETE fails: the entry stays, the DELETE is done.
	f = &failOn{shardFake: &shardFake{bySQL: map[string]map[string]*querypb.QueryResult{
		"FOR UPDATE": {"customer/80-": result([]string{"customer_id:8", "order_id:8", "sku:253", "note:253"}, "1|5|NULL|NULL")},
	}}, fail: "DELETE FROM `lorder_order_id_lookup`", err: sqlerr.New(1205, "Lock wait timeout exceeded; try restarting transaction")}
	if err := run(f, "delete from lorder where customer_id = 1"); err != nil {
		t.Errorf("removal failure: %v", err)
	}
	wantLines(t, f.lines,
		"Execute customer/80- SELECT `customer_id`,`order_id`,`sku`,`note` FROM `lorder` WHERE `customer_id` = 1 FOR UPDATE",
		"BeginSide customer/80-",
		"Side customer/80- DELETE FROM `lorder` WHERE (`customer_id` = 1) AND `customer_id` IN ('1')",
		"Commit customer/80-",
		"BeginSide commerce/0",
		"Side commerce/0 DELETE FROM `lorder_order_id_lookup` WHERE (`order_id`, `customer_id`) IN (('5', '1')) -> error",
		"Rollback commerce/0")
}

// TestLookupSideCommitFails: inside a client transaction, entries that
// could not be committed end the transaction (its rows must not commit
// without them); outside one, the statement fails and its rows' side
// transaction is rolled back.
func TestLookupSideCommitFails(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	run := func(f ShardExecutor, inTx bool) error {
		p, bv, err := r.Plan("insert into lorder (order_id, customer_id) values (7, 1)", "customer", 0)
		if err != nil {
			t.Fatal(err)
		}
		bv = withBinds(bv)
		bv[InTransactionBind] = int64(0)
		if inTx {
			bv[InTransactionBind] = int64(1)
		}
		_, err = p.Execute(t.Context(), f, bv)
		return err
	}
	lost := sqlerr.New(2013, "Lost connection to server during query")
	f := &failOn{shardFake: &shardFake{}, fail: "COMMIT commerce/0", err: lost}
	err := run(f, true)
	if !sqlerr.IsTxEnded(err) || !strings.Contains(err.Error(), "transaction was rolled back") {
		t.Errorf("in a transaction: %v, want the transaction ended", err)
	}
	f = &failOn{shardFake: &shardFake{}, fail: "COMMIT commerce/0", err: lost}
	err = run(f, false)
	if err == nil || sqlerr.IsTxEnded(err) {
		t.Errorf("outside a transaction: %v", err)
	}
	if all := strings.Join(f.lines, "\n"); !strings.Contains(all, "Rollback customer/80-") || strings.Contains(all, "Commit customer/80-") {
		t.Errorf("outside a transaction, the row's side transaction was not rolled back:\n%s", all)
	}
}
