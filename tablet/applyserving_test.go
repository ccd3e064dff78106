package tablet

import (
	"log/slog"
	"testing"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/queryservice"
)

// A health check's verdict taken before a traffic switch's fence (the
// shard record disabled the query service after checkHealth read its
// facts, from RefreshState or the shard watch) does not lift the fence:
// a fenced primary that served again while it drained would take writes
// behind the position the switch catches the targets up to.
func TestApplyServingKeepsTheFence(t *testing.T) {
	nowhere := mysqlconn.Params{Addr: "/nonexistent"}
	qs, err := queryservice.New(queryservice.DefaultConfig(), queryservice.Identity{Alias: &topodatapb.TabletAlias{Cell: "z", Uid: 1}, Keyspace: "ks", Shard: "0"},
		queryservice.Accounts{App: nowhere, ReadOnly: nowhere, Agent: nowhere}, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{qs: qs}
	primary := topodatapb.TabletType_PRIMARY

	if !a.applyServing(primary, true, "") {
		t.Fatal("a serving verdict without a fence: not serving")
	}
	if _, serving, _ := qs.Serving(); !serving {
		t.Fatal("the query service does not serve after a serving verdict without a fence")
	}

	// The fence lands between the health check's facts and its verdict.
	a.mu.Lock()
	a.qsControl.disabled = true
	a.mu.Unlock()
	qs.SetOpenTxOnly(primary, qsDisabledReason)
	if a.applyServing(primary, true, "") {
		t.Error("a serving verdict taken before the fence was published as serving")
	}
	if _, serving, reason := qs.Serving(); serving || !qs.OpenTxOnly() {
		t.Errorf("a serving verdict taken before the fence lifted it: serving %v, open transactions only %v (%s)", serving, qs.OpenTxOnly(), reason)
	}

	// A verdict for another reason (mysqld down) stops everything.
	if a.applyServing(primary, false, "mysqld is stopped") {
		t.Error("a verdict of not serving was published as serving")
	}
	if _, serving, _ := qs.Serving(); serving || qs.OpenTxOnly() {
		t.Error("a verdict of not serving for another reason than the fence let open transactions through")
	}

	// The fence's own verdict, after the record lifted it: open
	// transactions only, until the next check serves again.
	a.mu.Lock()
	a.qsControl.disabled = false
	a.mu.Unlock()
	a.applyServing(primary, false, qsDisabledReason)
	if !qs.OpenTxOnly() {
		t.Error("the fence's verdict, read just before the record lifted it, does not let open transactions through")
	}
	if !a.applyServing(primary, true, "") || !func() bool { _, s, _ := qs.Serving(); return s }() {
		t.Error("the next serving verdict after the fence was lifted does not serve")
	}
}
