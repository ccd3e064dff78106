package queryservice

import (
	"log/slog"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// A fenced primary (SetOpenTxOnly) refuses new work with a retryable
// error and still serves the transactions open before.
func TestOpenTxOnly(t *testing.T) {
	s, err := New(DefaultConfig(), Identity{Alias: &topodatapb.TabletAlias{Cell: "z", Uid: 1}, Keyspace: "ks", Shard: "-80"},
		Accounts{App: mysqlconn.Params{Addr: "/nonexistent"}, ReadOnly: mysqlconn.Params{Addr: "/nonexistent"}, Agent: mysqlconn.Params{Addr: "/nonexistent"}},
		nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	target := &querypb.Target{Keyspace: "ks", Shard: "-80", TabletType: topodatapb.TabletType_PRIMARY}
	s.SetServing(topodatapb.TabletType_PRIMARY, true, "")
	if err := s.checkTargetTx(target, false, 0); err != nil {
		t.Fatalf("serving: %v", err)
	}
	s.SetOpenTxOnly(topodatapb.TabletType_PRIMARY, "fenced for a traffic switch")
	if err := s.checkTargetTx(target, false, 0); !sqlerr.IsRetryable(err) {
		t.Fatalf("new statement while fenced: %v, want a retryable refusal", err)
	}
	if err := s.checkTargetTx(target, false, 42); err != nil {
		t.Fatalf("statement of an open transaction while fenced: %v", err)
	}
	if err := s.checkTargetTx(target, true, 42); err != nil {
		t.Fatalf("commit while fenced: %v", err)
	}
	// Not serving at all: open transactions may only end.
	s.SetServing(topodatapb.TabletType_PRIMARY, false, "demoted")
	if err := s.checkTargetTx(target, false, 42); !sqlerr.IsRetryable(err) {
		t.Fatalf("statement of an open transaction while not serving: %v", err)
	}
	// Nothing open: Drain returns at once.
	s.SetOpenTxOnly(topodatapb.TabletType_PRIMARY, "fenced")
	start := time.Now()
	n, err := s.Drain(t.Context(), time.Minute, "fenced")
	if err != nil || n != 0 || time.Since(start) > 5*time.Second {
		t.Fatalf("Drain with nothing open = %d, %v after %v", n, err, time.Since(start))
	}
}
