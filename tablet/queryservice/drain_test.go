package queryservice

import (
	"context"
	"log/slog"
	"net"
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

// Drain waits for a Begin, BeginExecute or ReserveExecute that passed the
// serving check before the fence and is still on its way to mysqld: the
// transaction it opens after Drain returned would write behind the
// position the switch reads then (its catch-up target), and the switch
// would end without it. Each request here stalls in the handshake of a
// mysqld that accepts and does not answer.
func TestDrainWaitsForBegins(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	mysqld := mysqlconn.Params{Addr: ln.Addr().String(), User: "app"}
	s, err := New(DefaultConfig(), Identity{Alias: &topodatapb.TabletAlias{Cell: "z", Uid: 1}, Keyspace: "ks", Shard: "0"},
		Accounts{App: mysqld, ReadOnly: mysqld, Agent: mysqld}, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	target := &querypb.Target{Keyspace: "ks", Shard: "0", TabletType: topodatapb.TabletType_PRIMARY}
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"Begin", func() error {
			_, err := s.Begin(t.Context(), &querypb.BeginRequest{Target: target})
			return err
		}},
		{"BeginExecute", func() error {
			_, err := s.BeginExecute(t.Context(), &querypb.BeginExecuteRequest{Target: target, Sql: "INSERT INTO t VALUES (1)"})
			return err
		}},
		{"ReserveExecute", func() error {
			_, err := s.ReserveExecute(t.Context(), &querypb.ReserveExecuteRequest{Target: target, Sql: "SELECT GET_LOCK('l', 1)"})
			return err
		}},
	} {
		name, call := c.name, c.call
		t.Run(name, func(t *testing.T) {
			s.SetServing(topodatapb.TabletType_PRIMARY, true, "")
			done := make(chan error, 1)
			go func() { done <- call() }()
			var conn net.Conn
			select {
			case conn = <-accepted:
			case err := <-done:
				t.Fatalf("%s ended before it reached mysqld: %v", name, err)
			case <-time.After(10 * time.Second):
				t.Fatalf("%s did not reach mysqld", name)
			}
			// The request passed the serving check and waits for mysqld:
			// the fence comes now.
			s.SetOpenTxOnly(topodatapb.TabletType_PRIMARY, "fenced for a traffic switch")
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			_, err := s.Drain(ctx, time.Minute, "fenced")
			cancel()
			if err == nil {
				t.Fatalf("Drain returned while a %s that passed the serving check before the fence was still on its way to mysqld", name)
			}
			conn.Close()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s did not end when mysqld closed its connection", name)
			}
			if _, err := s.Drain(t.Context(), time.Minute, "fenced"); err != nil {
				t.Fatalf("Drain once the %s ended: %v", name, err)
			}
		})
	}
}
