package deadlock

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt with the output the code gives")

// TestGraphScripts runs the scripts of testdata/*.txt against Graph: each
// case lists what tablets report (and, after "confirm", what they report
// again), then "----" and the deadlocks found with their victims and
// aborts. Cases are separated by blank lines. Lines:
//
//	read <keyspace/shard> <tablet> <read time>   a tablet's report begins
//	wait <waiter> <blocker> [ms=N] [lock=L]      one wait in it
//	confirm                                      the reports after it are the fresh ones
//
// A transaction is name@start (a gate's, tagged: dtid name, begun at
// start), with :tx=N (the tablet's transaction id, default 1), :stmt=N
// (its statement, default 1) and :trx=N (mysqld's, default a number made
// from the name); or trx:N, a transaction without a tag.
func TestGraphScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			for i, c := range strings.Split(strings.TrimSpace(string(b)), "\n\n") {
				in, want, ok := strings.Cut(c, "\n----\n")
				if !ok {
					in, want = strings.TrimSuffix(c, "\n----"), ""
				}
				got := runScript(t, in)
				if !*update && strings.TrimSpace(got) != strings.TrimSpace(want) {
					t.Errorf("case %d:\n%s\n---- got:\n%s\n---- want:\n%s", i+1, in, got, want)
				}
				if i > 0 {
					out.WriteString("\n")
				}
				fmt.Fprintf(&out, "%s\n----\n%s\n", in, strings.TrimSpace(got))
			}
			if *update {
				if err := os.WriteFile(f, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func runScript(t *testing.T, script string) string {
	var first, fresh []Report
	cur := &first
	for _, line := range strings.Split(script, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "read":
			if len(f) != 4 {
				t.Fatalf("read wants shard, tablet, time: %q", line)
			}
			at, _ := strconv.ParseInt(f[3], 10, 64)
			*cur = append(*cur, Report{Shard: f[1], Tablet: f[2], ReadUnixNano: at})
		case "wait":
			if len(f) < 3 || len(*cur) == 0 {
				t.Fatalf("wait wants a read before it, a waiter and a blocker: %q", line)
			}
			w := &querypb.LockWait{Waiter: scriptTx(t, f[1]), Blocker: scriptTx(t, f[2]), RequestedLock: "lock-" + f[2], BlockingLock: "held-" + f[2], WaitedMs: 200}
			w.Blocker.Statement = 0
			for _, opt := range f[3:] {
				k, v, _ := strings.Cut(opt, "=")
				switch k {
				case "ms":
					w.WaitedMs, _ = strconv.ParseInt(v, 10, 64)
				case "lock":
					w.RequestedLock = v
				default:
					t.Fatalf("unknown option %q", opt)
				}
			}
			r := &(*cur)[len(*cur)-1]
			r.Waits = append(r.Waits, w)
		case "confirm":
			cur = &fresh
		default:
			t.Fatalf("unknown command %q", line)
		}
	}
	g := NewGraph(first)
	if cur == &fresh {
		g = g.Confirm(fresh)
	}
	var b strings.Builder
	dls := g.Deadlocks()
	if len(dls) == 0 {
		b.WriteString("no deadlock\n")
	}
	for _, d := range dls {
		fmt.Fprintf(&b, "deadlock across %d shards (tablets %s), newest wait %dms: victim %s\n", d.Shards, strings.Join(d.Tablets, ","), d.NewestWaitMs, d.Victim)
		fmt.Fprintf(&b, "  cycle: %s\n", d)
		for _, a := range d.Aborts {
			r := a.Request
			fmt.Fprintf(&b, "  abort on %s (%s): tx=%d stmt=%d trx=%d lock=%s\n", a.Tablet, a.Shard, r.TransactionId, r.Statement, r.TrxId, r.RequestedLock)
		}
	}
	return b.String()
}

// scriptTx parses a transaction of a script.
func scriptTx(t *testing.T, s string) *querypb.LockWaitTx {
	if n, ok := strings.CutPrefix(s, "trx:"); ok {
		id, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			t.Fatalf("bad transaction %q", s)
		}
		return &querypb.LockWaitTx{TrxId: id}
	}
	parts := strings.Split(s, ":")
	name, start, ok := strings.Cut(parts[0], "@")
	if !ok {
		t.Fatalf("transaction %q wants name@start or trx:N", s)
	}
	st, _ := strconv.ParseInt(start, 10, 64)
	var trx uint64 = 1000
	for _, c := range name {
		trx = trx*31 + uint64(c)
	}
	tx := &querypb.LockWaitTx{TrxId: trx % 100000, TransactionId: 1, Statement: 1, Tag: &querypb.TransactionTag{Dtid: name, StartUnixNano: st}}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("bad %q in %q", p, s)
		}
		switch k {
		case "tx":
			tx.TransactionId = int64(n)
		case "stmt":
			tx.Statement = n
		case "trx":
			tx.TrxId = n
		default:
			t.Fatalf("unknown field %q in %q", k, s)
		}
	}
	return tx
}
