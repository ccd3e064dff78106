package evalengine_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/evalengine"
	"github.com/mosaicdb/mosaic/router/sqltypes"
)

// compareRow is one row of a table (z decimal(5,0), i int,
// s varchar(20) collate utf8mb4_general_ci, vb varbinary(10),
// u int unsigned).
var (
	compareFields = []*querypb.Field{
		{Name: "z", Type: sqltypes.TypeNewDecimal, ColumnLength: 7, Charset: sqltypes.CollationBinary},
		{Name: "i", Type: sqltypes.TypeLong, ColumnLength: 11, Charset: sqltypes.CollationBinary},
		{Name: "s", Type: sqltypes.TypeVarString, ColumnLength: 80, Charset: 45},
		{Name: "vb", Type: sqltypes.TypeVarString, ColumnLength: 10, Charset: sqltypes.CollationBinary, Flags: sqltypes.FlagBinary},
		{Name: "u", Type: sqltypes.TypeLong, ColumnLength: 10, Charset: sqltypes.CollationBinary, Flags: sqltypes.FlagUnsigned},
	}
	compareRow = [][]byte{[]byte("99999"), []byte("7"), []byte("abc"), []byte("ab"), []byte("3")}
)

// evalSQL evaluates the SQL expression expr in the gate over compareRow,
// the result shown as the e2e tests show a cell ("NULL" or quoted).
func evalSQL(t *testing.T, expr string) string {
	t.Helper()
	got, err := evalSQLErr(t, expr)
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return got
}

// evalSQLErr is evalSQL that returns the error of the compilation or
// evaluation.
func evalSQLErr(t *testing.T, expr string) (string, error) {
	t.Helper()
	stmt, err := parser.New().ParseOneStmt("SELECT "+expr, "", "")
	if err != nil {
		t.Fatalf("parse %s: %v", expr, err)
	}
	node := stmt.(*ast.SelectStmt).Fields.Fields[0].Expr
	e, err := evalengine.Translate(node, func(x ast.ExprNode) (evalengine.Expr, bool, error) {
		c, ok := x.(*ast.ColumnNameExpr)
		if !ok {
			return nil, false, nil
		}
		for i, f := range compareFields {
			if f.Name == c.Name.Name.L {
				return evalengine.Column{Index: i}, true, nil
			}
		}
		return nil, true, fmt.Errorf("no column %s", c.Name.Name.O)
	})
	if err != nil {
		t.Fatalf("translate %s: %v", expr, err)
	}
	p, err := evalengine.Compile(e, compareFields, nil)
	if err != nil {
		return "", err
	}
	cell, err := p.Cell(compareRow)
	if err != nil {
		return "", err
	}
	if cell == nil {
		return "NULL", nil
	}
	return fmt.Sprintf("%q", cell), nil
}

// TestCompareAsMariaDB checks comparisons whose answer depends on how
// MariaDB's Arg_comparator (=, <>, <, <=>, ..., NULLIF and an IN of one
// value) compares a double with fixed decimals or a decimal with a
// constant string, and how IN compares strings. Each want is what MariaDB 10.11 answers for
// SELECT expr FROM t with the row z = 99999, i = 7, s = 'abc', where
// z / 2147483647 is 0.0000465... shown as 0.0000, and vb = 'ab'.
func TestCompareAsMariaDB(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		// Both sides with fixed decimals (ROUND(x, -1) has 0, the
		// quotient 4): equal when they differ by less than half a unit
		// of the fourth decimal (compare_real_fixed).
		{"ROUND('é', -1) <=> (z / 2147483647)", `"1"`},
		{"ROUND((ROUND('é', -1) <=> (z / 2147483647)), 2)", `"1"`},
		{"ROUND('é', -1) = z / 2147483647", `"1"`},
		{"ROUND('é', -1) < z / 2147483647", `"0"`},
		{"ROUND('é', -1) IN (z / 2147483647)", `"1"`},
		{"NULLIF(ROUND('é', -1), z / 2147483647)", "NULL"},
		{"ROUND(1.00004e0, 4) = 1.0000 + z / 2147483647", `"1"`},
		{"ROUND(1.00004e0, 4) = 1.00009", `"0"`},
		// A double without fixed decimals, a string column, and the
		// comparisons that are not Arg_comparator's compare exactly.
		{"0e0 = z / 2147483647", `"0"`},
		{"s = z / 2147483647", `"0"`},
		{"ROUND('é', -1) IN (z / 2147483647, 5)", `"0"`},
		{"ROUND('é', -1) BETWEEN z / 2147483647 AND 1", `"0"`},
		{"CASE ROUND('é', -1) WHEN z / 2147483647 THEN 1 ELSE 0 END", `"0"`},
		{"z / 2147483647 IN ('0', 5)", `"0"`},
		// A decimal that is not a constant with a constant string: as
		// decimals, the quotient rounded to the 4 decimals it shows.
		{"'0' = z / 2147483647", `"1"`},
		{"z / 2147483647 IN ('0')", `"1"`},
		{"NULLIF(z / 2147483647, '0')", "NULL"},
		// IN compares strings by the collation of all its strings: with
		// a binary one among them, as bytes.
		{"s IN (vb, 'ABC')", `"0"`},
		{"s IN ('ABC', vb, 5)", `"0"`},
		{"s NOT IN (vb, NULL, 'ABC')", "NULL"},
		{"s IN ('ABC', 5)", `"1"`},
		{"s IN ('ABC', 'x')", `"1"`},
	} {
		if got := evalSQL(t, tc.expr); got != tc.want {
			t.Errorf("%s: gate %s, MariaDB %s", tc.expr, got, tc.want)
		}
	}
}

// TestResultTypeAsMariaDB checks the type of CASE, COALESCE, IFNULL and
// IF results by what MariaDB 10.11 answers for SELECT expr FROM t with
// the row of TestCompareAsMariaDB.
func TestResultTypeAsMariaDB(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		// A NULL among unsigned results makes a DECIMAL: no out-of-range
		// error below zero.
		{"IFNULL(NULL, u) - 5", `"-2"`},
		{"COALESCE(NULL, u) - 5", `"-2"`},
		{"COALESCE(u, NULL, u) - 5", `"-2"`},
		{"CASE WHEN i = 0 THEN NULL ELSE u END - 5", `"-2"`},
		{"CASE WHEN i THEN u ELSE NULL END - 5", `"-2"`},
		{"COALESCE(NULL, u)", `"3"`},
	} {
		if got := evalSQL(t, tc.expr); got != tc.want {
			t.Errorf("%s: gate %s, MariaDB %s", tc.expr, got, tc.want)
		}
	}
	// A string CASE, IF, COALESCE or IFNULL that may be longer than
	// nothing has NOT_FIXED_DEC, as strings do: the quotient shows as
	// many decimals as it needs, and compares exactly.
	for _, tc := range []struct{ expr, want string }{
		{"COALESCE(s, '') / 3", `"0"`},
		{"IF(i, '', 'a') / 3", `"0"`},
		{"CASE WHEN i THEN s END / 3", `"0"`},
		{"COALESCE(s, i) = ROUND('é', -1) + z / 2147483647", `"0"`},
	} {
		if got := evalSQL(t, tc.expr); got != tc.want {
			t.Errorf("%s: gate %s, MariaDB %s", tc.expr, got, tc.want)
		}
	}
	// One of max length 0 has 0 decimals (COALESCE('') / 3 is 0.0000 in
	// MariaDB), which the gate does not follow: it refuses them where
	// the decimals count.
	for _, expr := range []string{
		"COALESCE('') / 3",                                       // 0.0000
		"CASE WHEN i THEN LEFT(s, 0) END / 3",                    // 0.0000
		"COALESCE(LEFT(s, 0)) = ROUND('é', -1) + z / 2147483647", // 1
		"-COALESCE('')",                                          // 0
	} {
		if got, err := evalSQLErr(t, expr); !errors.Is(err, evalengine.ErrUnsupported) {
			t.Errorf("%s: gate %s %v, want it refused", expr, got, err)
		}
	}
	// Where MariaDB keeps the result unsigned, 3 - 5 is out of range.
	for _, expr := range []string{"IF(i, u, NULL) - 5", "IF(i = 0, NULL, u) - 5", "CASE WHEN i THEN u END - 5"} {
		if _, err := evalSQLErr(t, expr); !errors.Is(err, evalengine.ErrOutOfRange) {
			t.Errorf("%s: gate %v, MariaDB ERROR 1690", expr, err)
		}
	}
}

// TestConstantOutOfRange checks that an expression with a constant
// operand out of range is refused: MariaDB 10.11 fails some of them
// whatever the row (for n NULL, n < -(9223372036854775807 * 2) is ERROR
// 1690) and not others (n < 9223372036854775807 * 2 is NULL).
func TestConstantOutOfRange(t *testing.T) {
	for _, expr := range []string{
		"RIGHT(i * z, 0) < -(9223372036854775807 * 2)",
		"i < 9223372036854775807 * 2",
		"IF(i, 0, 9223372036854775807 * 2)",
		"COALESCE(1, 9223372036854775807 * 2)",
	} {
		if got, err := evalSQLErr(t, expr); !errors.Is(err, evalengine.ErrUnsupported) {
			t.Errorf("%s: gate %s %v, want it refused", expr, got, err)
		}
	}
	// Alone, it is the error.
	if _, err := evalSQLErr(t, "9223372036854775807 * 2"); !errors.Is(err, evalengine.ErrOutOfRange) {
		t.Errorf("9223372036854775807 * 2: gate %v, MariaDB ERROR 1690", err)
	}
}

// TestExactDecimalsAsMariaDB checks the comparisons that take decimals
// with all their digits, not rounded to the decimals they show as a
// comparison does: an IN of several items, BETWEEN, GREATEST and LEAST.
// Each want is what MariaDB 10.11 answers for the row of
// TestCompareAsMariaDB.
func TestExactDecimalsAsMariaDB(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"0 IN (z / 2147483647, 1)", `"0"`},
		{"z / 2147483647 IN (0, 1)", `"0"`},
		{"0 IN (z / 2147483647)", `"1"`},
		{"ROUND(((NOT 0.1e0) IN ((18446744073709551615 MOD 9223372036854775807), (2 / z))))", `"0"`},
		{"z / 2147483647 BETWEEN 0 AND 0", `"0"`},
		{"GREATEST(0, z / 2147483647) * 1000000", `"46.5650"`},
		{"LEAST(z / 2147483647, 0) * 1000000", `"0.0000"`},
	} {
		if got := evalSQL(t, tc.expr); got != tc.want {
			t.Errorf("%s: gate %s, MariaDB %s", tc.expr, got, tc.want)
		}
	}
}

// TestIsNullNotEvaluated checks that IS NULL and ISNULL of what cannot
// be NULL are 0 without evaluating it, as in MariaDB 10.11, where
// IS NOT NULL evaluates it (for i = 7, the sum is out of range).
func TestIsNullNotEvaluated(t *testing.T) {
	for _, expr := range []string{
		"ISNULL((i + 9223372036854775807) IS FALSE)",
		"((i + 9223372036854775807) IS FALSE) IS NULL",
	} {
		if got := evalSQL(t, expr); got != `"0"` {
			t.Errorf("%s: gate %s, MariaDB \"0\"", expr, got)
		}
	}
	expr := "((i + 9223372036854775807) IS FALSE) IS NOT NULL"
	if _, err := evalSQLErr(t, expr); !errors.Is(err, evalengine.ErrOutOfRange) {
		t.Errorf("%s: gate %v, MariaDB ERROR 1690", expr, err)
	}
}

// TestNegativeConstantMinus checks the type of the minus of a constant,
// by what MariaDB 10.11 answers: a DECIMAL when the constant is a
// negative integer that is not a literal, so no BIGINT overflow.
func TestNegativeConstantMinus(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"-(0 - 5) * 9223372036854775807", `"46116860184273879035"`},
		{"LEAST(ABS(2), -100) * -(2147483647 - 9223372036854775807)", `"-922337203470729216000"`},
	} {
		if got := evalSQL(t, tc.expr); got != tc.want {
			t.Errorf("%s: gate %s, MariaDB %s", tc.expr, got, tc.want)
		}
	}
	// A literal's minus, of a positive constant, or of a column stays
	// an integer: ERROR 1690.
	for _, expr := range []string{"-(-5) * 9223372036854775807", "-(5 - 0) * 9223372036854775807", "-(i - 10) * 9223372036854775807"} {
		if _, err := evalSQLErr(t, expr); !errors.Is(err, evalengine.ErrOutOfRange) {
			t.Errorf("%s: gate %v, MariaDB ERROR 1690", expr, err)
		}
	}
}

// TestConstantCase checks that a CASE of constants is a constant, as
// MariaDB 10.11 treats it: the minus of one that is an unsigned integer
// past 2^63 is a DECIMAL, not an overflow.
func TestConstantCase(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"-CASE 0 WHEN '' THEN 18446744073709551615 END", `"-18446744073709551615"`},
		{"-CASE WHEN 1 THEN 18446744073709551615 END", `"-18446744073709551615"`},
		{"LEFT(-CASE 0 WHEN '' THEN 18446744073709551615 END, -1)", `""`},
	} {
		if got := evalSQL(t, tc.expr); got != tc.want {
			t.Errorf("%s: gate %s, MariaDB %s", tc.expr, got, tc.want)
		}
	}
	expr := "-CASE WHEN i THEN 18446744073709551615 END"
	if _, err := evalSQLErr(t, expr); !errors.Is(err, evalengine.ErrOutOfRange) {
		t.Errorf("%s: gate %v, MariaDB ERROR 1690", expr, err)
	}
}

// TestGreatestWithNull checks the type of GREATEST and LEAST with a NULL
// among their arguments, by what MariaDB 10.11 answers for the row of
// TestCompareAsMariaDB (i = 7): a DOUBLE, which shows where it is an
// operand.
func TestGreatestWithNull(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"GREATEST(CASE WHEN z THEN i ELSE LEAST(i, 18446744073709551615, NULL) END, 0.5) / 3", `"2.33333"`},
		{"CASE WHEN z THEN 1.5 ELSE GREATEST(1.25, NULL) END", `"1.50"`},
	} {
		if got := evalSQL(t, tc.expr); got != tc.want {
			t.Errorf("%s: gate %s, MariaDB %s", tc.expr, got, tc.want)
		}
	}
	// Compared as doubles with an integer past 2^53, which the gate
	// refuses: MariaDB's answer is the double 9223372036854776000.
	expr := "GREATEST(CASE WHEN z THEN i ELSE LEAST(i, 18446744073709551615, NULL) END, 9223372036854775807)"
	if got, err := evalSQLErr(t, expr); !errors.Is(err, evalengine.ErrUnsupported) {
		t.Errorf("%s: gate %s %v, MariaDB \"9223372036854776000\"", expr, got, err)
	}
}

// TestNotAsMariaDBParses checks NOT as MariaDB 10.11's parser rewrites
// it, for the row of TestCompareAsMariaDB (i = 7, z = 99999).
func TestNotAsMariaDBParses(t *testing.T) {
	// NOT (x IS NOT NULL) is x IS NULL: not evaluated when x cannot be
	// NULL. NOT (x IS NULL) is x IS NOT NULL, which evaluates it.
	expr := "NOT (((i + 9223372036854775807) IS FALSE) IS NOT NULL)"
	if got := evalSQL(t, expr); got != `"0"` {
		t.Errorf("%s: gate %s, MariaDB \"0\"", expr, got)
	}
	expr = "NOT (((i + 9223372036854775807) IS FALSE) IS NULL)"
	if _, err := evalSQLErr(t, expr); !errors.Is(err, evalengine.ErrOutOfRange) {
		t.Errorf("%s: gate %v, MariaDB ERROR 1690", expr, err)
	}
	if got := evalSQL(t, "NOT NOT i"); got != `"1"` {
		t.Errorf("NOT NOT i: gate %s, MariaDB \"1\"", got)
	}
	// NOT NOT x is x <> 0 in a select list (0 here: the quotient rounds
	// to 0.0000), x in WHERE (true): refused.
	for _, expr := range []string{"NOT (NOT (z / 2147483647))", "NOT (NOT (2.50 / 2147483647))"} {
		if got, err := evalSQLErr(t, expr); !errors.Is(err, evalengine.ErrUnsupported) {
			t.Errorf("%s: gate %s %v, want it refused", expr, got, err)
		}
	}
}

// TestDecimalProductKeepsDigits checks that a decimal product keeps the
// digits its operands hold beyond those they show, as MariaDB 10.11 does
// for the row of TestCompareAsMariaDB (z = 99999).
func TestDecimalProductKeepsDigits(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"NOT ((z / 2147483647) * 1)", `"0"`},
		{"((z / 2147483647) * 1) * 1000000000", `"46565.0000"`},
		{"((z / 7) * (z / 7)) * 1000000000", `"204077551040804081.75510204"`},
		{"((z / 2147483647) * 1) = 0", `"1"`},
		{"(1 / 3) * 3", `"1.0000"`},
	} {
		if got := evalSQL(t, tc.expr); got != tc.want {
			t.Errorf("%s: gate %s, MariaDB %s", tc.expr, got, tc.want)
		}
	}
}

// TestUnsignedDecimalRefused checks that a decimal MariaDB flags
// unsigned is refused where the flag shows: for u = 3, MariaDB 10.11
// fails (u / u) DIV -1 (ERROR 1690) but answers (u / 2) DIV -1 (-1).
func TestUnsignedDecimalRefused(t *testing.T) {
	// (u MOD 1.5) DIV -1 too, for u = 1.
	for _, expr := range []string{"(u / u) DIV -1", "(u MOD 1.5) DIV -1"} {
		if got, err := evalSQLErr(t, expr); !errors.Is(err, evalengine.ErrUnsupported) {
			t.Errorf("%s: gate %s %v, want it refused", expr, got, err)
		}
	}
	if got := evalSQL(t, "(u / 2) DIV -1"); got != `"-1"` {
		t.Errorf("(u / 2) DIV -1: gate %s, MariaDB \"-1\"", got)
	}
}

// TestMathOfNull checks the type of FLOOR, CEIL and ABS of NULL, by
// what MariaDB 10.11 answers: DOUBLEs, as shows ROUND of a COALESCE that
// holds one.
func TestMathOfNull(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"ROUND(COALESCE((NOT vb), (NOT 3), FLOOR(NULL)), 2)", `"1.00"`},
		{"ROUND(COALESCE(1, CEIL(NULL)), 2)", `"1.00"`},
		{"ROUND(COALESCE(1, ABS(NULL)), 2)", `"1.00"`},
		{"ROUND(COALESCE(1, SIGN(NULL)), 2)", `"1"`},
	} {
		if got := evalSQL(t, tc.expr); got != tc.want {
			t.Errorf("%s: gate %s, MariaDB %s", tc.expr, got, tc.want)
		}
	}
}
