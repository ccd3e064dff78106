package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/evalengine"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

var (
	evalCount = flag.Int("eval-count", 3000, "TestGateEvaluation: random expressions to compare")
	evalSeed  = flag.Uint64("eval-seed", 0, "TestGateEvaluation: seed (0: a new one, logged)")
)

// TestGateEvaluation builds random expressions of mixed types (integers,
// unsigned, decimals, doubles, strings of two collations, dates,
// NULLs; arithmetic, comparisons, logic, IN, BETWEEN, CASE and the
// functions the gate evaluates) over the columns of a table in plain
// MariaDB, and compares what the gate's evaluator (router/evalengine)
// makes of each row with what MariaDB answers for SELECT expr: the same
// text for every row, NULL for NULL, and the out-of-range error (1690)
// where MariaDB gives it. An expression the gate refuses to evaluate is
// fine (the router then has a shard compute it, or refuses the
// statement), but most must be evaluated, or the test fails for proving
// nothing. MOSAIC_EVAL_ADDR points it at a running mysqld instead of a
// new one.
func TestGateEvaluation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mariadbd")
	}
	ctx := t.Context()
	addr := os.Getenv("MOSAIC_EVAL_ADDR")
	if addr == "" {
		p, err := cluster.StartPlain(t)
		if err != nil {
			t.Fatal(err)
		}
		addr = fmt.Sprintf("127.0.0.1:%d", p.Port)
	}
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := mysqlconn.Dial(dctx, mysqlconn.Params{Addr: addr, User: "root"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	for _, q := range evalSchema {
		if _, err := conn.Execute(q, 0); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	base, err := conn.Execute("SELECT "+strings.Join(evalColumns, ", ")+" FROM mosaic_eval.ev ORDER BY id", 0)
	if err != nil {
		t.Fatal(err)
	}
	rows := decodeAll(t, base)
	seed := *evalSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (-eval-seed to repeat)", seed)
	g := &exprGen{r: rand.New(rand.NewPCG(seed, 7))}
	p := parser.New()
	var evaluated, refused, failures int
	refusedBy := map[string]int{}
	for n := 0; n < *evalCount && failures < 20; n++ {
		expr := g.expr(3)
		stmt, err := p.ParseOneStmt("SELECT "+expr, "", "")
		if err != nil {
			t.Fatalf("generated %s: %v", expr, err)
		}
		node := stmt.(*ast.SelectStmt).Fields.Fields[0].Expr
		e, err := evalengine.Translate(node, func(x ast.ExprNode) (evalengine.Expr, bool, error) {
			c, ok := x.(*ast.ColumnNameExpr)
			if !ok {
				return nil, false, nil
			}
			for i, name := range evalColumns {
				if name == c.Name.Name.L {
					return evalengine.Column{Index: i}, true, nil
				}
			}
			return nil, true, fmt.Errorf("no column %s", c.Name.Name.O)
		})
		var prog *evalengine.Program
		if err == nil {
			prog, err = evalengine.Compile(e, base.Fields, nil)
		}
		if errors.Is(err, evalengine.ErrUnsupported) {
			refused++
			refusedBy[firstLine(err.Error())]++
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		got := make([]string, len(rows))
		gateErr := error(nil)
		for i, r := range rows {
			cell, err := prog.Cell(r)
			if err != nil {
				gateErr = err
				break
			}
			got[i] = showCell(cell)
		}
		if errors.Is(gateErr, evalengine.ErrUnsupported) {
			refused++
			refusedBy[firstLine(gateErr.Error())]++
			continue
		}
		evaluated++
		res, err := conn.Execute("SELECT "+expr+" FROM mosaic_eval.ev ORDER BY id", 0)
		var me *sqlerr.Error
		switch {
		case err != nil && errors.As(err, &me) && me.Num == 1690 && errors.Is(gateErr, evalengine.ErrOutOfRange):
			continue
		case err != nil:
			failures++
			t.Errorf("%s\nMariaDB: %v\ngate:    %v %q", expr, err, gateErr, got)
			continue
		case gateErr != nil:
			failures++
			t.Errorf("%s\nMariaDB: %q\ngate:    %v", expr, column(decodeAll(t, res)), gateErr)
			continue
		}
		want := column(decodeAll(t, res))
		for i := range want {
			if want[i] != got[i] {
				failures++
				t.Errorf("%s\nrow %d (%s):\nMariaDB: %s (type %d, %d decimals)\ngate:    %s (type %s)", expr, i+1, showRow(rows[i]),
					want[i], res.Fields[0].Type, res.Fields[0].Decimals, got[i], prog.Type().Kind)
				break
			}
		}
	}
	t.Logf("%d expressions evaluated and compared, %d refused by the gate", evaluated, refused)
	for why, n := range refusedBy {
		t.Logf("  refused %d× %s", n, why)
	}
	if failures == 0 && evaluated < *evalCount/2 {
		t.Errorf("only %d of %d expressions evaluated: the gate refuses too much for this test to mean anything", evaluated, evaluated+refused)
	}
}

var evalSchema = []string{
	"CREATE DATABASE IF NOT EXISTS mosaic_eval",
	"DROP TABLE IF EXISTS mosaic_eval.ev",
	`CREATE TABLE mosaic_eval.ev (
  id int primary key,
  i int, u int unsigned, bi bigint, d decimal(10,3), z decimal(5,0), f double,
  s varchar(20) collate utf8mb4_general_ci, sb varchar(20) collate utf8mb4_bin,
  dt date, ts datetime, n int, vb varbinary(10))`,
	`INSERT INTO mosaic_eval.ev VALUES
  (1, 0, 0, 0, 0.000, 0, 0, '', '', '2020-01-01', '2020-01-01 00:00:00', NULL, ''),
  (2, 7, 3, 9223372036854775807, 12.345, 99999, 1.5, 'abc', 'abc', '2021-12-31', '2021-12-31 23:59:59', NULL, 'ab'),
  (3, -7, 4294967295, -9223372036854775807, -0.001, -5, -2.25, 'ABC', 'ABC', '1999-02-28', '1999-02-28 12:30:00', NULL, 'AB'),
  (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (5, 100, 1, -1, 9999999.999, 1, 0.1, '12abc', ' 7', '2024-02-29', '2024-02-29 08:00:01', NULL, '7'),
  (6, 2147483647, 10, 10, 1.5, 2, 1e20, '1.5', 'b', '2000-10-10', '2000-10-10 10:10:10', NULL, 'z'),
  (7, -1, 2, 3, -2.5, -3, -0.5, 'é', 'É', '2020-01-02', '2020-01-01 23:59:59', NULL, '1'),
  (8, 3, 5, 1000000, 0.500, 7, 3, '2020-01-02', '-3', '2020-01-01', '2020-01-02 00:00:00', NULL, 'x')`,
}

var evalColumns = []string{"id", "i", "u", "bi", "d", "z", "f", "s", "sb", "dt", "ts", "n", "vb"}

func decodeAll(t *testing.T, res *querypb.QueryResult) [][][]byte {
	t.Helper()
	out := make([][][]byte, len(res.Rows))
	for i, r := range res.Rows {
		cells, err := sqltypes.DecodeRow(r, len(res.Fields))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = cells
	}
	return out
}

func column(rows [][][]byte) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = showCell(r[0])
	}
	return out
}

func showCell(c []byte) string {
	if c == nil {
		return "NULL"
	}
	return fmt.Sprintf("%q", c)
}

func showRow(r [][]byte) string {
	var s []string
	for i, c := range r {
		s = append(s, evalColumns[i]+"="+showCell(c))
	}
	return strings.Join(s, " ")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// exprGen makes random expressions over the columns of evalSchema.
type exprGen struct{ r *rand.Rand }

func (g *exprGen) pick(s []string) string { return s[g.r.IntN(len(s))] }

var (
	evalLiterals = []string{
		"0", "1", "2", "3", "-1", "7", "10", "100", "2147483647", "9223372036854775807", "-9223372036854775807",
		"18446744073709551615", "1.5", "-0.25", "100.001", "0.0", "2.50", "1.5e0", "-2e0", "0.1e0", "1e300",
		"'abc'", "'ABC'", "'12abc'", "' 7'", "''", "'2020-01-02'", "'1.5'", "'-3'", "'é'", "'z'", "'2021-12-31 23:59:59'",
		"NULL", "TRUE", "FALSE", "DATE '2021-03-04'", "TIMESTAMP '2020-01-01 00:00:00'",
	}
	evalCols = []string{"i", "u", "bi", "d", "z", "f", "s", "sb", "dt", "ts", "n", "vb", "id"}
)

func (g *exprGen) leaf() string {
	if g.r.IntN(2) == 0 {
		return g.pick(evalCols)
	}
	return g.pick(evalLiterals)
}

func (g *exprGen) expr(depth int) string {
	if depth == 0 || g.r.IntN(5) == 0 {
		return g.leaf()
	}
	e := func() string { return g.expr(depth - 1) }
	list := func(min, max int) string {
		n := min + g.r.IntN(max-min+1)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = e()
		}
		return strings.Join(parts, ", ")
	}
	switch g.r.IntN(24) {
	case 0, 1, 2:
		return "(" + e() + " " + g.pick([]string{"+", "-", "*", "/", "DIV", "%", "MOD"}) + " " + e() + ")"
	case 3, 4, 5:
		return "(" + e() + " " + g.pick([]string{"=", "<>", "<", "<=", ">", ">=", "<=>", "!="}) + " " + e() + ")"
	case 6:
		return "(" + e() + " " + g.pick([]string{"AND", "OR", "XOR"}) + " " + e() + ")"
	case 7:
		return "(NOT " + e() + ")"
	case 8:
		return "(" + e() + g.pick([]string{" IS NULL", " IS NOT NULL", " IS TRUE", " IS NOT FALSE", " IS FALSE"}) + ")"
	case 9:
		return "(" + e() + g.pick([]string{" IN (", " NOT IN ("}) + list(1, 4) + "))"
	case 10:
		return "(" + e() + g.pick([]string{" BETWEEN ", " NOT BETWEEN "}) + e() + " AND " + e() + ")"
	case 11:
		return "CASE WHEN " + e() + " THEN " + e() + " WHEN " + e() + " THEN " + e() + " ELSE " + e() + " END"
	case 12:
		return "CASE " + e() + " WHEN " + e() + " THEN " + e() + " END"
	case 13:
		return "IF(" + e() + ", " + e() + ", " + e() + ")"
	case 14:
		return g.pick([]string{"IFNULL", "NULLIF"}) + "(" + e() + ", " + e() + ")"
	case 15:
		return "COALESCE(" + list(1, 3) + ")"
	case 16:
		return g.pick([]string{"CONCAT(", "CONCAT_WS(', ', "}) + list(1, 3) + ")"
	case 17:
		return g.pick([]string{"LENGTH", "CHAR_LENGTH", "ABS", "SIGN", "FLOOR", "CEIL", "UPPER", "LOWER", "ISNULL"}) + "(" + e() + ")"
	case 18:
		return g.pick([]string{"ROUND", "TRUNCATE"}) + "(" + e() + ", " + g.pick([]string{"0", "1", "2", "-1"}) + ")"
	case 19:
		return "ROUND(" + e() + ")"
	case 20:
		return g.pick([]string{"GREATEST", "LEAST"}) + "(" + list(2, 3) + ")"
	case 21:
		return g.pick([]string{"LEFT", "RIGHT"}) + "(" + e() + ", " + g.pick([]string{"0", "1", "2", "5", "-1"}) + ")"
	case 22:
		return "SUBSTRING(" + e() + ", " + g.pick([]string{"1", "2", "-2", "0"}) + ", " + g.pick([]string{"1", "3", "0"}) + ")"
	}
	return "-" + e()
}
