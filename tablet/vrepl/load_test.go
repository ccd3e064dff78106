package vrepl_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/tablet/vrepl"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

// TestLoadRows checks the copy's LOAD DATA: values with the bytes its
// file format escapes, NULLs and empty strings go in unchanged, and rows
// whose keys are there already fail the batch, which leaves nothing.
func TestLoadRows(t *testing.T) {
	ts := topo.NewServer(etcdtest.NewStoreAt(t, etcdtest.Start(t), "/mosaic"))
	s := tablettest.StartShard(t, ts, "ks", "0", 0)
	c, err := mysqlconn.Dial(t.Context(), mysqlconn.Params{
		Addr: fmt.Sprintf("127.0.0.1:%d", s.Primary().MySQLPort), User: tablettest.DBAUser,
		Password: tablettest.Secrets().DBAPassword.Reveal(), DB: s.Primary().DBName,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []string{
		"SET SESSION time_zone = '+00:00'",
		"CREATE TABLE ld (id INT PRIMARY KEY, b VARBINARY(16), s VARCHAR(16), l VARCHAR(8) CHARACTER SET latin1, d DATETIME(3), n INT)",
	} {
		if err := c.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	v := func(s string) []byte { return []byte(s) }
	rows := [][][]byte{
		{v("1"), v("a\tb\nc\\d\x00e\r'\"\\N"), v("é\t\\"), v("\xe9t\xe9"), v("2024-01-02 03:04:05.678"), v("-5")},
		{v("2"), nil, v(""), nil, nil, nil},
		{v("3"), v(""), v(`\N`), v("x"), v("0000-00-00 00:00:00.000"), v("0")},
	}
	if err := vrepl.LoadRowsForTest(c, s.Primary().DBName, "ld", rows); err != nil {
		t.Fatal(err)
	}
	res, err := c.Execute("SELECT id, HEX(b), HEX(s), HEX(l), d, n FROM ld ORDER BY id", 0)
	if err != nil {
		t.Fatal(err)
	}
	hexOf := func(b []byte) string {
		if b == nil {
			return "NULL"
		}
		return fmt.Sprintf("%X", b)
	}
	for i, raw := range res.Rows {
		got, err := mysqlconn.RowValues(raw, 6)
		if err != nil {
			t.Fatal(err)
		}
		want := rows[i]
		line := func(vals [][]byte, hexed bool) string {
			var out []string
			for j, x := range vals {
				switch {
				case x == nil:
					out = append(out, "NULL")
				case hexed && j >= 1 && j <= 3:
					out = append(out, hexOf(x))
				default:
					out = append(out, string(x))
				}
			}
			return strings.Join(out, " | ")
		}
		g := make([]string, len(got))
		for j, x := range got {
			g[j] = "NULL"
			if x != nil {
				g[j] = string(x)
			}
		}
		if w := line(want, true); strings.Join(g, " | ") != w {
			t.Errorf("row %d: got %s, want %s", i, strings.Join(g, " | "), w)
		}
	}
	if len(res.Rows) != len(rows) {
		t.Fatalf("%d rows, want %d", len(res.Rows), len(rows))
	}
	// A batch with a key that is there already: refused whole.
	again := [][][]byte{{v("4"), nil, nil, nil, nil, nil}, rows[0]}
	err = vrepl.LoadRowsForTest(c, s.Primary().DBName, "ld", again)
	if err == nil || !strings.Contains(err.Error(), "copied twice") {
		t.Fatalf("a key loaded twice: err %v, want a refusal", err)
	}
	res, err = c.Execute("SELECT COUNT(*) FROM ld", 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := mysqlconn.RowValues(res.Rows[0], 1); string(n[0]) != "3" {
		t.Errorf("%s rows after the refused batch, want 3", n[0])
	}
}
