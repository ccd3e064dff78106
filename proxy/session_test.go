package proxy

import (
	"reflect"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
)

func TestWithSettingOrder(t *testing.T) {
	var l []setting
	l = withSetting(l, "names", "SET NAMES utf8mb4")
	l = withSetting(l, "character_set_results", "SET @@SESSION.`character_set_results` = NULL")
	l = withSetting(l, "time_zone", "SET @@SESSION.`time_zone` = '+00:00'")
	// Set again: it moves to the end, after what it may override.
	l = withSetting(l, "names", "SET NAMES latin1")
	l = withSetting(l, "time_zone", "")
	got := optionsOf(l, false, 0).Settings
	want := []string{"SET @@SESSION.`character_set_results` = NULL", "SET NAMES latin1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("settings = %q, want %q", got, want)
	}
	if got := withoutCharsetSettings(l); len(got) != 0 {
		t.Fatalf("withoutCharsetSettings left %v", got)
	}
}

func TestParseControl(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want controlStmt
		ok   bool
	}{
		{"BEGIN", controlStmt{kind: ctlBegin}, true},
		{"begin work;", controlStmt{kind: ctlBegin}, true},
		{"START TRANSACTION", controlStmt{kind: ctlBegin}, true},
		{"start transaction with consistent snapshot, read only", controlStmt{kind: ctlBegin, chars: txCharacteristics{readOnly: true, consistentSnapshot: true}}, true},
		{"START TRANSACTION READ WRITE", controlStmt{kind: ctlBegin}, true},
		{"START TRANSACTION READ", controlStmt{}, false},
		{"START TRANSACTION READ ONLY,", controlStmt{}, false},
		{"COMMIT WORK", controlStmt{kind: ctlCommit}, true},
		{"commit and chain", controlStmt{}, false},
		{"ROLLBACK", controlStmt{kind: ctlRollback}, true},
		{"ROLLBACK WORK TO SAVEPOINT a", controlStmt{kind: ctlRollback, toSavepoint: true, savepoint: "a"}, true},
		{"rollback work to b;", controlStmt{kind: ctlRollback, toSavepoint: true, savepoint: "b"}, true},
		{"ROLLBACK TO savepointx", controlStmt{kind: ctlRollback, toSavepoint: true, savepoint: "savepointx"}, true},
		{"ROLLBACK TO SAVEPOINT", controlStmt{}, false},
		{"ROLLBACK TO a b", controlStmt{}, false},
		{"SET TRANSACTION ISOLATION LEVEL READ COMMITTED", controlStmt{kind: ctlSetTx, chars: txCharacteristics{isolation: "READ COMMITTED"}}, true},
		{"set session transaction read only, isolation level serializable", controlStmt{kind: ctlSetTx, scope: "session", chars: txCharacteristics{isolation: "SERIALIZABLE", readOnly: true}}, true},
		{"SET LOCAL TRANSACTION READ WRITE", controlStmt{kind: ctlSetTx, scope: "session", readWrite: true}, true},
		{"SET GLOBAL TRANSACTION ISOLATION LEVEL REPEATABLE READ", controlStmt{kind: ctlSetTx, scope: "global", chars: txCharacteristics{isolation: "REPEATABLE READ"}}, true},
		{"SET TRANSACTION ISOLATION LEVEL SNAPSHOT", controlStmt{}, false},
		{"SET transaction_mode = 'twopc'", controlStmt{}, false},
		{"SHOW WARNINGS", controlStmt{kind: ctlShowWarnings, limit: -1}, true},
		{"show errors limit 2", controlStmt{kind: ctlShowErrors, limit: 2}, true},
		{"SHOW WARNINGS LIMIT 1, 2", controlStmt{kind: ctlShowWarnings, offset: 1, limit: 2}, true},
		{"SHOW COUNT(*) WARNINGS", controlStmt{kind: ctlShowWarnings, count: true, limit: -1}, true},
		{"SHOW VARIABLES", controlStmt{}, false},
		{"XA START 'x'", controlStmt{kind: ctlXA}, true},
		{"savepoint `a b`", controlStmt{kind: ctlSavepoint, savepoint: "a b"}, true},
		{"SAVEPOINT `a``b`", controlStmt{kind: ctlSavepoint, savepoint: "a`b"}, true},
		{"savepoint Äb_1$", controlStmt{kind: ctlSavepoint, savepoint: "Äb_1$"}, true},
		{"savepoint 12", controlStmt{}, false},
		{"savepoint1 a", controlStmt{}, false},
		{"savepoint ``", controlStmt{}, false},
		{"savepoint `a` /* c */", controlStmt{}, false},
		{"release savepoint a", controlStmt{kind: ctlRelease, savepoint: "a"}, true},
		{"RELEASE SAVEPOINT", controlStmt{}, false},
		{"rollback to `a`", controlStmt{kind: ctlRollback, toSavepoint: true, savepoint: "a"}, true},
		{"XA RECOVER", controlStmt{kind: ctlXA}, true},
		{"SAVEPOINT a", controlStmt{kind: ctlSavepoint, savepoint: "a"}, true},
		{"/* c */ BEGIN", controlStmt{}, false},
		{"SELECT 1", controlStmt{}, false},
	} {
		got, ok := parseControl(c.sql)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parseControl(%q) = %+v %v, want %+v %v", c.sql, got, ok, c.want, c.ok)
		}
	}
}

func TestSQLLiteral(t *testing.T) {
	for _, c := range []struct {
		f    *querypb.Field
		val  []byte
		want string
	}{
		{&querypb.Field{Type: sqltypes.TypeLonglong}, []byte("42"), "42"},
		{&querypb.Field{Type: sqltypes.TypeNewDecimal}, []byte("1.50"), "1.50"},
		{&querypb.Field{Type: sqltypes.TypeDouble}, []byte("1.5"), "1.5e0"},
		{&querypb.Field{Type: sqltypes.TypeDouble}, []byte("1e+20"), "1e+20"},
		{&querypb.Field{Type: sqltypes.TypeVarString, Charset: 45}, []byte("ANSI,STRICT"), "'ANSI,STRICT'"},
		{&querypb.Field{Type: sqltypes.TypeVarString, Charset: 45}, []byte("it's"), "_utf8mb4 X'69742773'"},
		{&querypb.Field{Type: sqltypes.TypeVarString, Charset: 8}, []byte("caf\xe9"), "_latin1 X'636166e9'"},
		{&querypb.Field{Type: sqltypes.TypeBlob, Charset: sqltypes.CollationBinary}, []byte{0, 0xff}, "X'00ff'"},
		{&querypb.Field{Type: sqltypes.TypeVarString, Charset: 45}, nil, "NULL"},
	} {
		if got := sqlLiteral(c.f, c.val); got != c.want {
			t.Errorf("sqlLiteral(%v, %q) = %s, want %s", c.f.Type, c.val, got, c.want)
		}
	}
}

func TestCheckShardsSingleMode(t *testing.T) {
	s := NewSession(1, "root", TransactionModeSingle)
	s.beginTx(txCharacteristics{})
	a, b := shardKey{"ks", "-80"}, shardKey{"ks", "80-"}
	if err := s.checkShards([]shardKey{a, b}); err == nil {
		t.Fatal("a statement on two shards passed in single mode")
	}
	if err := s.checkShards([]shardKey{a}); err != nil {
		t.Fatal(err)
	}
	s.addTx(&shardTx{key: a})
	if err := s.checkShards([]shardKey{a}); err != nil {
		t.Fatal(err)
	}
	if err := s.checkShards([]shardKey{b}); err == nil {
		t.Fatal("a second shard passed in single mode")
	}
	s.TxMode = TransactionModeMulti
	s.endTx()
	s.beginTx(txCharacteristics{})
	if err := s.checkShards([]shardKey{a, b}); err != nil {
		t.Fatal(err)
	}
}

func TestBeginOptionsTwoPC(t *testing.T) {
	s := NewSession(1, "root", TransactionModeTwoPC)
	s.nextTx.isolation = "READ COMMITTED"
	s.beginTx(txCharacteristics{})
	a, b := shardKey{"ks", "-80"}, shardKey{"ks", "80-"}
	o, xa, err := s.beginOptionsFor(a)
	if err != nil || xa || o.GetXid() != nil || o.GetIsolation() != "READ COMMITTED" {
		t.Fatalf("first shard: %v %v %v", o, xa, err)
	}
	o, xa, err = s.beginOptionsFor(b)
	if err != nil || !xa || o.Xid.Bqual != "ks/-80" || o.Xid.Gtrid != s.tx.dtid || o.Isolation != "READ COMMITTED" {
		t.Fatalf("second shard: %v %v %v", o, xa, err)
	}
	if s.nextTx != (txCharacteristics{}) {
		t.Fatal("SET TRANSACTION outlived its transaction")
	}
	if o.Tag.GetDtid() != s.tx.dtid || o.Tag.GetStartUnixNano() == 0 {
		t.Fatalf("the XA branch's tag %v is not its transaction's (%s)", o.Tag, s.tx.dtid)
	}
}

// TestBeginOptionsTag: every shard transaction of a transaction carries
// its tag, the same on every shard, for the deadlock detector; the next
// transaction has another.
func TestBeginOptionsTag(t *testing.T) {
	s := NewSession(1, "root", TransactionModeMulti)
	s.beginTx(txCharacteristics{readOnly: true})
	a, b := shardKey{"ks", "-80"}, shardKey{"ks", "80-"}
	oa, _, _ := s.beginOptionsFor(a)
	ob, xa, _ := s.beginOptionsFor(b)
	if xa || oa.Tag == nil || oa.Tag.Dtid == "" || oa.Tag != ob.Tag || !oa.ReadOnly {
		t.Fatalf("shard transactions begin with %v and %v", oa, ob)
	}
	first := oa.Tag.Dtid
	s.endTx()
	s.beginTx(txCharacteristics{})
	oa, _, _ = s.beginOptionsFor(a)
	if oa.Tag.GetDtid() == "" || oa.Tag.Dtid == first || oa.ReadOnly {
		t.Fatalf("the next transaction begins with %v (the first was %s)", oa, first)
	}
}

// TestSavepointRecord: the record follows MariaDB's list of savepoints.
func TestSavepointRecord(t *testing.T) {
	s := NewSession(1, "u", TransactionModeMulti)
	s.beginTx(txCharacteristics{})
	for _, n := range []string{"a", "b", "c", "A"} {
		s.addSavepoint(n)
	}
	if got := s.savepointList(); !reflect.DeepEqual(got, []string{"b", "c", "A"}) {
		t.Fatalf("after setting a again: %q", got)
	}
	if i := s.savepointIndex("C"); i != 1 {
		t.Fatalf("index of C = %d", i)
	}
	s.keepSavepoints(2) // ROLLBACK TO c
	if got := s.savepointList(); !reflect.DeepEqual(got, []string{"b", "c"}) {
		t.Fatalf("after rollback to c: %q", got)
	}
	s.keepSavepoints(0) // RELEASE SAVEPOINT b
	if got := s.savepointList(); got != nil {
		t.Fatalf("after release b: %q", got)
	}
	s.addSavepoint("x")
	s.endTx()
	if i := s.savepointIndex("x"); i != -1 {
		t.Fatalf("the transaction's end left savepoint x at %d", i)
	}
}
