package queryservice

import (
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

func TestClassify(t *testing.T) {
	for sql, want := range map[string]string{
		"select 1":                             stmtSelect,
		"  /* hint */ SELECT * FROM t":         stmtSelect,
		"(select 1) union (select 2)":          stmtSelect,
		"-- c\nINSERT INTO t VALUES (1)":       stmtInsert,
		"# c\nupdate t set a=1":                stmtUpdate,
		"DELETE FROM t":                        stmtDelete,
		"replace into t values (1)":            stmtReplace,
		"SET SESSION sql_mode = ''":            stmtSet,
		"use db":                               stmtUse,
		"BEGIN":                                stmtBegin,
		"start   transaction read only":        stmtBegin,
		"start slave":                          stmtOther,
		"commit":                               stmtCommit,
		"ROLLBACK":                             stmtRollback,
		"ROLLBACK TO SAVEPOINT `a`":            stmtRollback,
		"SAVEPOINT `a`":                        stmtSavepoint,
		"release  savepoint a":                 stmtSavepoint,
		"RELEASE_LOCK('a')":                    stmtOther,
		"create table t (id int)":              stmtDDL,
		"ALTER TABLE t ADD c INT":              stmtDDL,
		"show tables":                          stmtShow,
		"with x as (select 1) select * from x": stmtSelect,
		"":                                     stmtOther,
		"/* unterminated":                      stmtOther,
	} {
		if got := classify(sql); got != want {
			t.Errorf("classify(%q) = %s, want %s", sql, got, want)
		}
	}
}

func TestBroadcaster(t *testing.T) {
	b := NewBroadcaster()
	if b.Latest() != nil {
		t.Fatal("latest before publish")
	}
	msg := func(serving bool) *querypb.StreamHealthResponse {
		return &querypb.StreamHealthResponse{Serving: serving}
	}
	b.Publish(msg(false))
	ch, unsubscribe := b.Subscribe()
	if got := <-ch; got.Serving {
		t.Fatal("subscriber did not get the latest message first")
	}
	// A slow subscriber skips to the newest message.
	b.Publish(msg(false))
	b.Publish(msg(true))
	if got := <-ch; !got.Serving {
		t.Fatal("slow subscriber got a stale message")
	}
	unsubscribe()
	b.Publish(msg(false))
	if _, ok := <-ch; ok {
		t.Fatal("message after unsubscribe")
	}
	ch2, _ := b.Subscribe()
	<-ch2
	b.Close()
	if _, ok := <-ch2; ok {
		t.Fatal("subscription open after Close")
	}
	if b.Latest().Serving {
		t.Fatal("Latest is not the last published message")
	}
}

func TestSettingsKey(t *testing.T) {
	if settingsKey(nil) != "" || settingsKey([]string{"a"}) != "a" || settingsKey([]string{"a", "b"}) == settingsKey([]string{"ab"}) {
		t.Error("settingsKey collides")
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Error(err)
	}
	bad := DefaultConfig()
	bad.PoolSize = 0
	if bad.Validate() == nil {
		t.Error("zero pool validated")
	}
}

func TestLeavesState(t *testing.T) {
	for sql, want := range map[string]bool{
		"select 1": false,
		"SELECT * FROM t WHERE id = 1 FOR UPDATE":              false,
		"select @@version, @x":                                 false,
		"insert into t values (1, 'a')":                        false,
		"create table t (id int)":                              false,
		"SET SESSION sql_mode = ''":                            false,
		"select 1 into outfile '/tmp/x'":                       false,
		"LOCK TABLES t WRITE":                                  true,
		"lock table t read":                                    true,
		"UNLOCK TABLES":                                        true,
		"SELECT GET_LOCK('a', 1)":                              true,
		"select get_lock('a', 1) into @x":                      true,
		"DO get_lock('a', 0)":                                  true,
		"CREATE TEMPORARY TABLE t (id int)":                    true,
		"/* c */ create or replace temporary table t (id int)": true,
		"PREPARE s FROM 'select 1'":                            true,
		"EXECUTE s":                                            true,
		"HANDLER t OPEN":                                       true,
		"FLUSH TABLES WITH READ LOCK":                          true,
		"BACKUP STAGE START":                                   true,
		"CALL p()":                                             true,
		"SELECT @x := 1":                                       true,
		"UPDATE t SET a = (@x := a)":                           true,
		"SELECT a INTO @x FROM t":                              true,
		"select a from t into\n @x":                            true,
		"SET STATEMENT max_statement_time=1 FOR SELECT 1":      true,
		"SET @x = GET_LOCK('a', 0)":                            true,
		"SAVEPOINT `a`":                                        false,
		"RELEASE SAVEPOINT `a`":                                false,
		"ROLLBACK TO SAVEPOINT `a`":                            false,
	} {
		if got := leavesState(classify(sql), sql); got != want {
			t.Errorf("leavesState(%q) = %v, want %v", sql, got, want)
		}
	}
}
