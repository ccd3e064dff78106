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

func TestMultiplexResponseUTF8(t *testing.T) {
	ok := &querypb.QueryResult{Fields: []*querypb.Field{{Name: "é", Table: "t"}}, Info: "Rows matched: 1", WarningList: []*querypb.Warning{{Level: "Note", Message: "ça"}}}
	if !validUTF8(ok) || !validUTF8(nil) {
		t.Error("valid result refused")
	}
	for _, bad := range []*querypb.QueryResult{
		{Fields: []*querypb.Field{{Name: "\xff"}}},
		{Fields: []*querypb.Field{{OrgTable: "a\xc3"}}},
		{Info: "\xfe"},
		{WarningList: []*querypb.Warning{{Message: "\xff"}}},
	} {
		if validUTF8(bad) {
			t.Errorf("%v passed as UTF-8", bad)
		}
	}
}
