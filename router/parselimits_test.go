package router

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/pingcap/tidb/pkg/parser"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// The errors and the texts are what MariaDB 10.11 answers for the same
// statements (probed on mariadbd).
func TestParseRefusesDeepNesting(t *testing.T) {
	r := New(DefaultConfig())
	parens := func(n int) string { return "select " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n) }
	selects := func(n int) string {
		return "select 1 from dual where 1 in " + strings.Repeat("(select 1 from dual where 1 in ", n) + "(1)" + strings.Repeat(")", n)
	}
	cases := []struct {
		name string
		sql  string
		code uint16
		msg  string
	}{
		{"parentheses past mysqld's parser stack", parens(40000), sqlerr.ERParseError,
			"memory exhausted near '" + strings.Repeat("(", 77) + "...' at line 1"},
		{"on a later line", "select\n1,\n" + strings.Repeat("(", 40000) + "1" + strings.Repeat(")", 40000), sqlerr.ERParseError,
			"memory exhausted near '" + strings.Repeat("(", 77) + "...' at line 3"},
		{"65 nested SELECTs", selects(64), sqlerr.ERTooHighLevelOfNesting, "Too high level of nesting for select"},
		{"an operator chain", "select 1" + strings.Repeat("+1", 200000), sqlerr.ERStackOverrun, ""},
		{"an OR chain", "select * from t where " + strings.Repeat("a=1 or ", 60000) + "1", sqlerr.ERStackOverrun, ""},
		{"unary operators", "select " + strings.Repeat("~", 200000) + "1", sqlerr.ERStackOverrun, ""},
	}
	for _, c := range cases {
		_, err := r.Parse(c.sql, 0)
		e := sqlerr.FromError(err)
		if err == nil || e.Num != c.code || (c.msg != "" && e.Message != c.msg) {
			t.Errorf("%s: got %v, want %d %q", c.name, err, c.code, c.msg)
		}
	}
	// Just within the limits, as in mysqld.
	for _, sql := range []string{parens(1000), selects(63), "select * from t where " + strings.Repeat("a=1 or ", 20000) + "1"} {
		if _, err := r.Parse(sql, 0); err != nil {
			t.Errorf("%.40s...: %v", sql, err)
		}
	}
}

// Refusing is cheap: a 4 MB statement of nested parentheses is refused
// without the parser (which took about 2 GB for it).
func TestParseRefusalAllocatesLittle(t *testing.T) {
	r := New(DefaultConfig())
	sql := "select " + strings.Repeat("(", 2<<20) + "1" + strings.Repeat(")", 2<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := r.Parse(sql, 0)
	runtime.ReadMemStats(&after)
	if sqlerr.FromError(err).Num != sqlerr.ERParseError {
		t.Fatalf("got %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Fatalf("refusing took %d bytes", n)
	}
}

// fakeBudget refuses what goes past max and records the charges.
type fakeBudget struct {
	mu        sync.Mutex
	max, used int64
	peak      int64
}

var errBudget = errors.New("over budget")

func (b *fakeBudget) Acquire(n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return errBudget
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return nil
}

func (b *fakeBudget) Release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
}

func TestParseChargesMemoryBudget(t *testing.T) {
	b := &fakeBudget{max: 64 << 20}
	cfg := DefaultConfig()
	cfg.ParseMemory = b
	r := New(cfg)
	// A flat statement of 400,000 tokens: about 200 MB to parse.
	big := "select 1 from t where id in (" + strings.Repeat("1,", 200000) + "1)"
	if _, err := r.Parse(big, 0); !errors.Is(err, errBudget) {
		t.Fatalf("a parse past the budget: %v", err)
	}
	// One within it is charged while it parses, and released after.
	mid := "select 1 from t where id in (" + strings.Repeat("1,", 50000) + "1)"
	if _, err := r.Parse(mid, 0); err != nil {
		t.Fatal(err)
	}
	if b.peak < 100000*parseCostPerToken || b.used != 0 {
		t.Fatalf("charged %d at most, %d left", b.peak, b.used)
	}
	// Small statements are not charged.
	b.peak = 0
	if _, err := r.Parse("select 1", 0); err != nil || b.peak != 0 {
		t.Fatalf("a small statement: %v, charged %d", err, b.peak)
	}
}

// BenchmarkDeepParentheses compares, side by side, the gate refusing a
// 1 MB statement of nested parentheses with the parser parsing it (what
// the gate did before, issue 12: about 490 MB).
func BenchmarkDeepParentheses(b *testing.B) {
	sql := "select " + strings.Repeat("(", 500000) + "1" + strings.Repeat(")", 500000)
	b.Run("refused", func(b *testing.B) {
		r := New(DefaultConfig())
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Parse(sql, 0); err == nil {
				b.Fatal("parsed")
			}
		}
	})
	b.Run("parser", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parser.New().ParseOneStmt(sql, "", ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestNearText(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "",
		strings.Repeat("a", 80):    strings.Repeat("a", 80),
		strings.Repeat("a", 81):    strings.Repeat("a", 77) + "...",
		strings.Repeat("é", 81):    strings.Repeat("é", 77) + "...",
		strings.Repeat("(", 40000): strings.Repeat("(", 77) + "...",
	} {
		if got := nearText(in); got != want {
			t.Errorf("nearText(%.20q...) = %q, want %q", in, got, want)
		}
	}
}
