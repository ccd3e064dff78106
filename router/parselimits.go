package router

import (
	"strings"

	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/sqltext"
)

// Limits on what the router hands the parser. The parser's memory and
// stack grow with a statement's nesting, and its memory with its tokens:
// Parse measures the text first (sqltext.Measure, one pass, no syntax
// tree) and refuses, before parsing, what mysqld refuses or what would
// cost the gate too much.

// parseLimits are the deepest nesting Parse takes.
var parseLimits = sqltext.DepthLimits{
	// MariaDB's parser gives up past 32000 entries of its stack, each
	// open parenthesis one of them: SELECT with 31991 nested parentheses
	// parses, with 31992 it fails with 1064 "memory exhausted". A
	// statement past 32000 parentheses is refused by mysqld too, with
	// that error.
	Parens: 32000,
	// mysqld nests at most 64 SELECTs (1473 beyond).
	Selects: 64,
	// An operator chain nests the syntax tree one level per operator
	// (a=1 OR a=2 OR ... included: mysqld flattens those, the gate's
	// parser does not). At 100000 levels parsing and planning take about
	// 8 MiB of stack and 150 MB of allocation; mysqld itself gives up on
	// chains of about 30000 unary or arithmetic operators (1436).
	Expr: 100000,
}

// parseCostPerToken is what parsing costs in memory per token, measured
// on the gate's parser over operator chains, lists, nested parentheses
// and bulk INSERTs (150 to 440 bytes per token), rounded up.
const parseCostPerToken = 512

// minChargedParse is the smallest parse the memory budget is asked about:
// smaller statements cost too little to count, and the hot path stays
// free of the budget's atomic operations.
const minChargedParse = 256 << 10

// MemoryBudget is the memory a gate lets its statements in flight take.
// The router charges it, before parsing a statement, with what the parse
// will take, and releases the charge once the statement is parsed.
type MemoryBudget interface {
	// Acquire takes n bytes, or returns the error to give the client,
	// taking nothing, when the budget cannot spare them. It does not
	// wait.
	Acquire(n int64) error
	// Release gives back n bytes Acquire took.
	Release(n int64)
}

// checkDepth returns mysqld's error for a statement past parseLimits, nil
// for one within them, and the statement's parse cost.
func checkDepth(sql string) (cost int64, err error) {
	m := sqltext.Measure(sql, parseLimits)
	switch m.Exceeded {
	case sqltext.TooManyParens:
		return 0, sqlerr.New(sqlerr.ERParseError, "memory exhausted near '%s' at line %d", nearText(sql[m.At:]), lineAt(sql, m.At))
	case sqltext.TooManySelects:
		return 0, sqlerr.New(sqlerr.ERTooHighLevelOfNesting, "Too high level of nesting for select")
	case sqltext.TooDeep:
		return 0, sqlerr.New(sqlerr.ERStackOverrun, "Thread stack overrun: the expression nests deeper than the gate's limit of %d levels near '%s' at line %d",
			parseLimits.Expr, nearText(sql[m.At:]), lineAt(sql, m.At))
	}
	return int64(m.Tokens)*parseCostPerToken + int64(len(sql)), nil
}

// nearText is mysqld's excerpt of a statement in a syntax error: the
// text at the error, cut to 80 characters with "..." for the rest.
func nearText(s string) string {
	n, cut := 0, 0
	for i := range s {
		if n == 77 {
			cut = i
		}
		if n == 80 {
			return s[:cut] + "..."
		}
		n++
	}
	return s
}

// lineAt is the line of sql that offset at is on, from 1.
func lineAt(sql string, at int) int {
	return strings.Count(sql[:at], "\n") + 1
}
