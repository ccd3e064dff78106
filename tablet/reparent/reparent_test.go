package reparent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
)

func testOptions() Options {
	return Options{OnlyIfPrimaryDown: true, FailHungPrimary: true, LeaseWait: 5 * time.Second, TabletTimeout: 5 * time.Second, Creds: tmclient.Insecure()}
}

func wantLines(t *testing.T, f *shardFixture, want ...string) {
	t.Helper()
	if got := f.rec.sorted(); got != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// A primary that holds its lease but whose mysqld does not answer is
// failed over when the failure detector asks for it: the record stops
// naming it, it gives the lease back (the real tablet kills its mysqld
// first), and the most advanced replica is promoted.
func TestEmergencyHungPrimary(t *testing.T) {
	f := newShard(t, map[uint32]string{1: "0-1-10", 2: "0-1-10", 3: "0-1-9"}, 1, 2, 3)
	f.tablet(1).unresponsive = true
	// Whether both replicas are asked for their health depends on which
	// answers first.
	f.rec.setSkip(func(l string) bool { return l == "zone1-2 StreamHealth" || l == "zone1-3 StreamHealth" })
	res, err := Emergency(t.Context(), f.ts, "ks", "0", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got := res.NewPrimary; got.GetUid() != 2 {
		t.Fatalf("new primary %v, want zone1-2", got)
	}
	primary, term := f.record(t)
	if primary != "zone1-2" || term <= 5 {
		t.Fatalf("record names %s term %d, want zone1-2 with a term after 5", primary, term)
	}
	wantLines(t, f,
		"zone1-1 StopReplication io_only=true",
		"zone1-1 StreamHealth",
		"zone1-1 fenced: gave the lease back",
		"zone1-2 PromoteReplica",
		"zone1-2 StopReplication io_only=true",
		"zone1-3 SetReplicationSource zone1-2 start=true",
		"zone1-3 StopReplication io_only=true",
	)
}

// A hung primary is not fenced (its mysqld killed) when no replica could
// take over: the shard waits for its mysqld instead.
func TestEmergencyHungPrimaryWithoutReplica(t *testing.T) {
	f := newShard(t, map[uint32]string{1: "0-1-10", 2: "0-1-10"}, 1, 2)
	f.tablet(1).unresponsive = true
	f.tablet(2).unresponsive = true
	_, err := Emergency(t.Context(), f.ts, "ks", "0", testOptions())
	if !IsNoCandidate(err) {
		t.Fatalf("err = %v, want no candidate", err)
	}
	if primary, term := f.record(t); primary != "zone1-1" || term != 5 {
		t.Fatalf("record names %s term %d, want zone1-1 term 5 untouched", primary, term)
	}
	wantLines(t, f, "zone1-1 StreamHealth", "zone1-2 StreamHealth")
}

// A primary that holds its lease and answers is left alone: the detector's
// view was stale, or the mysqld resumed while it waited for the lock.
func TestEmergencyAnsweringPrimaryLeftAlone(t *testing.T) {
	f := newShard(t, map[uint32]string{1: "0-1-10", 2: "0-1-10"}, 1, 2)
	_, err := Emergency(t.Context(), f.ts, "ks", "0", testOptions())
	if !errors.Is(err, ErrPrimaryHealthy) {
		t.Fatalf("err = %v, want ErrPrimaryHealthy", err)
	}
	if primary, term := f.record(t); primary != "zone1-1" || term != 5 {
		t.Fatalf("record names %s term %d, want zone1-1 term 5 untouched", primary, term)
	}
	wantLines(t, f, "zone1-1 StreamHealth")

	// Without FailHungPrimary a lease is enough: the tablet is not even
	// asked.
	f.tablet(1).unresponsive = true
	opts := testOptions()
	opts.FailHungPrimary = false
	if _, err := Emergency(t.Context(), f.ts, "ks", "0", opts); !errors.Is(err, ErrPrimaryHealthy) {
		t.Fatalf("err = %v, want ErrPrimaryHealthy", err)
	}
	wantLines(t, f, "zone1-1 StreamHealth")
}

// A reparent that finds the shard record moved on by someone else after
// it fenced it (another reparent ran while this one was stopped and its
// lock expired) writes nothing and promotes nobody; one that finds it
// before it stops replication leaves the replicas alone too.
func TestEmergencyStopsWhenShardMovedOn(t *testing.T) {
	for _, when := range []string{"before stopping replication", "while stopping replication"} {
		t.Run(strings.ReplaceAll(when, " ", "_"), func(t *testing.T) {
			f := newShard(t, map[uint32]string{1: "0-1-10", 2: "0-1-10", 3: "0-1-10"}, 1, 2, 3)
			f.tablet(1).unresponsive = true
			moved := false
			moveOn := func() {
				if moved {
					return
				}
				moved = true
				// What the other reparent wrote.
				if _, err := f.ts.UpdateShardFields(context.Background(), "ks", "0", func(s *topodatapb.Shard) error {
					s.PrimaryAlias, s.PrimaryTermStartUnixNano = f.tablet(3).alias, 99
					return nil
				}); err != nil {
					t.Error(err)
				}
			}
			if when == "before stopping replication" {
				f.tablet(1).onFenced = moveOn
			} else {
				f.tablet(3).onStop = moveOn
			}
			_, err := Emergency(t.Context(), f.ts, "ks", "0", testOptions())
			if !errors.Is(err, ErrShardMovedOn) {
				t.Fatalf("err = %v, want ErrShardMovedOn", err)
			}
			if primary, term := f.record(t); primary != "zone1-3" || term != 99 {
				t.Fatalf("record names %s term %d, want the other reparent's zone1-3 term 99", primary, term)
			}
			for _, l := range strings.Split(f.rec.sorted(), "\n") {
				if strings.Contains(l, "PromoteReplica") || strings.Contains(l, "SetReplicationSource") ||
					(when == "before stopping replication" && strings.Contains(l, "StopReplication")) {
					t.Errorf("the stale reparent went on: %s", l)
				}
			}
		})
	}
}

// A planned reparent demotes the old primary, lets the new one catch up
// with it, and promotes it with a new term; one whose record moved on
// before it wrote it does not promote.
func TestPlanned(t *testing.T) {
	f := newShard(t, map[uint32]string{1: "0-1-10", 2: "0-1-10"}, 1, 2)
	res, err := Planned(t.Context(), f.ts, "ks", "0", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if res.NewPrimary.GetUid() != 2 {
		t.Fatalf("new primary %v", res.NewPrimary)
	}
	if primary, term := f.record(t); primary != "zone1-2" || term <= 5 {
		t.Fatalf("record names %s term %d", primary, term)
	}
	wantLines(t, f,
		"zone1-1 DemotePrimary",
		"zone1-1 PrimaryPosition",
		"zone1-1 SetReplicationSource zone1-2 start=true",
		"zone1-2 PromoteReplica",
		"zone1-2 ReplicationStatus",
		"zone1-2 WaitForPosition 0-1-10",
		"zone1-2 WaitForPosition 0-1-10",
	)
}
