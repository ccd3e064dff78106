package mysqlconn_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// A CALL answers with each result set of its procedure and a final OK:
// the reader returns them all in order, and leaves the connection in step
// when a result fails (too many rows, an error inside the procedure, a
// stream that cannot carry several results).
func TestMultiResults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mariadbd")
	}
	p, err := cluster.StartPlain(t)
	if err != nil {
		t.Fatal(err)
	}
	c, err := mysqlconn.Dial(t.Context(), mysqlconn.Params{Addr: fmt.Sprintf("127.0.0.1:%d", p.Port), User: "root"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []string{
		"CREATE DATABASE mr",
		"CREATE TABLE mr.t (id int primary key)",
		"CREATE PROCEDURE mr.two() BEGIN SELECT 1 AS a; REPLACE INTO mr.t VALUES (1), (2); SELECT 2 AS b, 'x' AS c UNION ALL SELECT 3, NULL; END",
		"CREATE PROCEDURE mr.three_rows() BEGIN SELECT id FROM mr.t; SELECT id FROM mr.t UNION ALL SELECT 9; SELECT 'last'; END",
		"CREATE PROCEDURE mr.fails() BEGIN SELECT 1; SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'boom'; END",
		"CREATE PROCEDURE mr.outp(IN a INT, OUT b INT, INOUT c VARCHAR(10)) BEGIN SET b = a * 2; SET c = CONCAT(c, '!'); END",
	} {
		if err := c.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	inStep := func() {
		t.Helper()
		res, err := c.Execute("SELECT 42", 0)
		if err != nil || len(res.Rows) != 1 || string(res.Rows[0]) != "\x0242" || len(res.MoreResults) != 0 {
			t.Fatalf("connection out of step: %v %v", res, err)
		}
	}

	res, err := c.Execute("CALL mr.two()", 0)
	if err != nil {
		t.Fatal(err)
	}
	all := append([]*querypb.QueryResult{res}, res.MoreResults...)
	if len(all) != 3 {
		t.Fatalf("CALL two() gave %d results, want 3", len(all))
	}
	if got := describe(t, all[0]); got != "a: [1]" {
		t.Errorf("first result %q", got)
	}
	if got := describe(t, all[1]); got != "b,c: [2 x] [3 NULL]" {
		t.Errorf("second result %q", got)
	}
	if len(all[2].Fields) != 0 || len(all[2].MoreResults) != 0 {
		t.Errorf("last result is not the CALL's OK: %v", all[2])
	}
	inStep()

	// An ordinary statement is one result.
	res, err = c.Execute("INSERT INTO mr.t VALUES (3)", 0)
	if err != nil || res.RowsAffected != 1 || len(res.MoreResults) != 0 {
		t.Fatalf("insert: %v %v", res, err)
	}

	// Too many rows in the second result set: the error, then the rest
	// is drained.
	_, err = c.Execute("CALL mr.three_rows()", 3)
	if se := sqlerr.FromError(err); se.Num != sqlerr.ERTooManyRows {
		t.Fatalf("CALL over max rows: %v", err)
	}
	inStep()

	// An error inside the procedure after a result set.
	_, err = c.Execute("CALL mr.fails()", 0)
	if se := sqlerr.FromError(err); se.Num != 1644 || se.Message != "boom" {
		t.Fatalf("CALL fails(): %v", err)
	}
	inStep()

	// A stream cannot carry several results.
	err = c.Stream("CALL mr.two()", 0, func(*querypb.QueryResult) error { return nil })
	if se := sqlerr.FromError(err); se.Num != sqlerr.ERNotSupportedYet {
		t.Fatalf("streamed CALL: %v", err)
	}
	inStep()

	// ExecuteSmall buffers them under its limit, gives up past it.
	if res, err = c.ExecuteSmall("CALL mr.two()", 1<<20); err != nil || len(res.MoreResults) != 2 {
		t.Fatalf("small CALL: %v %v", res, err)
	}
	if _, err = c.ExecuteSmall("CALL mr.three_rows()", 16); !errors.Is(err, mysqlconn.ErrTooLarge) {
		t.Fatalf("small CALL past its limit: %v", err)
	}
	if c, err = mysqlconn.Dial(t.Context(), mysqlconn.Params{Addr: fmt.Sprintf("127.0.0.1:%d", p.Port), User: "root"}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// OUT and INOUT parameters land in user variables of the connection.
	if err := c.Exec("SET @c = 'hi'"); err != nil {
		t.Fatal(err)
	}
	res, err = c.Execute("CALL mr.outp(21, @b, @c)", 0)
	if err != nil || len(res.MoreResults) != 0 || len(res.Fields) != 0 {
		t.Fatalf("CALL outp: %v %v", res, err)
	}
	res, err = c.Execute("SELECT @b, @c", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(t, res); got != "@b,@c: [42 hi!]" {
		t.Fatalf("OUT values %q", got)
	}
}

// describe writes a result set as "col,col: [v v] [v v]".
func describe(t *testing.T, r *querypb.QueryResult) string {
	t.Helper()
	s := ""
	for i, f := range r.Fields {
		if i > 0 {
			s += ","
		}
		s += f.Name
	}
	s += ":"
	for _, row := range r.Rows {
		vals, err := mysqlconn.RowValues(row, len(r.Fields))
		if err != nil {
			t.Fatal(err)
		}
		s += " ["
		for i, v := range vals {
			if i > 0 {
				s += " "
			}
			if v == nil {
				s += "NULL"
			} else {
				s += string(v)
			}
		}
		s += "]"
	}
	return s
}
