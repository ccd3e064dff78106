package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"hash/crc32"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

// writeLoad inserts rows through the gate from several connections until
// stopped, and remembers which writes the client saw acknowledged, which
// failed and when, to check afterwards that no acknowledged write was lost
// and to measure pauses.
type writeLoad struct {
	db    *sql.DB
	table string

	mu        sync.Mutex
	acked     map[int64]string // id → value, acknowledged
	attempted map[int64]string // every id sent
	writes    []writeRec       // acknowledged writes, by completion
	failures  []writeRec
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

type writeRec struct {
	sent, done time.Time
	err        error
}

// startWriteLoad starts writers goroutines inserting into table (id
// BIGINT PRIMARY KEY, v VARCHAR) through db.
func startWriteLoad(t *testing.T, db *sql.DB, table string, writers int) *writeLoad {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &writeLoad{db: db, table: table, acked: map[int64]string{}, attempted: map[int64]string{}, cancel: cancel}
	for w := 0; w < writers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for seq := int64(1); ctx.Err() == nil; seq++ {
				id := int64(w+1)*1_000_000_000 + seq
				v := fmt.Sprintf("w%d-%d", w, seq)
				l.mu.Lock()
				l.attempted[id] = v
				l.mu.Unlock()
				sent := time.Now()
				qctx, qcancel := context.WithTimeout(context.Background(), 60*time.Second)
				_, err := db.ExecContext(qctx, "INSERT INTO "+table+" (id, v) VALUES (?, ?)", id, v)
				qcancel()
				rec := writeRec{sent: sent, done: time.Now(), err: err}
				l.mu.Lock()
				if err == nil {
					l.acked[id] = v
					l.writes = append(l.writes, rec)
				} else {
					l.failures = append(l.failures, rec)
				}
				l.mu.Unlock()
				if err != nil {
					// Do not spin on an error.
					select {
					case <-time.After(20 * time.Millisecond):
					case <-ctx.Done():
					}
				}
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

// stop stops the writers and waits for them.
func (l *writeLoad) stop() {
	l.cancel()
	l.wg.Wait()
}

// ackCount returns how many writes were acknowledged.
func (l *writeLoad) ackCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// waitAcks waits until n more writes are acknowledged than when called.
func (l *writeLoad) waitAcks(t *testing.T, n int, within time.Duration) {
	t.Helper()
	want := l.ackCount() + n
	deadline := time.Now().Add(within)
	for l.ackCount() < want {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d acknowledged writes after %v; last errors: %v", l.ackCount(), want, within, l.lastErrors(3))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// firstAckSentAfter returns when the first write sent after t0 was
// acknowledged.
func (l *writeLoad) firstAckSentAfter(t0 time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, w := range l.writes {
		if w.sent.After(t0) && (first.IsZero() || w.done.Before(first)) {
			first = w.done
		}
	}
	return first, !first.IsZero()
}

// failuresBetween returns the writes that failed and were sent in
// [from, to].
func (l *writeLoad) failuresBetween(from, to time.Time) []writeRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []writeRec
	for _, f := range l.failures {
		if !f.sent.Before(from) && !f.sent.After(to) {
			out = append(out, f)
		}
	}
	return out
}

func (l *writeLoad) lastErrors(n int) []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []error
	for i := len(l.failures) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, l.failures[i].err)
	}
	return out
}

// pause returns the longest time in [from, to] without an acknowledged
// write, and the longest single acknowledged write sent in it.
func (l *writeLoad) pause(from, to time.Time) (gap, longest time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var done []time.Time
	for _, w := range l.writes {
		if !w.done.Before(from) && !w.done.After(to) {
			done = append(done, w.done)
		}
		if !w.sent.Before(from) && !w.sent.After(to) {
			longest = max(longest, w.done.Sub(w.sent))
		}
	}
	slices.SortFunc(done, func(a, b time.Time) int { return a.Compare(b) })
	prev := from
	for _, d := range done {
		gap = max(gap, d.Sub(prev))
		prev = d
	}
	gap = max(gap, to.Sub(prev))
	return gap, longest
}

// verify checks through db that every acknowledged row is there with its
// value and that no row appears that was never sent, and returns the
// row count and a checksum of the table.
func (l *writeLoad) verify(t *testing.T, db *sql.DB) (int, uint32) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	rows, err := db.Query("SELECT id, v FROM " + l.table + " ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int64]string{}
	var ids []int64
	for rows.Next() {
		var id int64
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		got[id] = v
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for id, v := range l.acked {
		if got[id] != v {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged write %d (%q) lost: found %q", id, v, got[id])
			}
		}
	}
	for id, v := range got {
		if l.attempted[id] != v {
			t.Errorf("row %d (%q) was never written", id, v)
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", lost, len(l.acked))
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	h := crc32.NewIEEE()
	for _, id := range ids {
		fmt.Fprintf(h, "%d:%s\n", id, got[id])
	}
	return len(ids), h.Sum32()
}
