package e2e

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/router/vindexes"
)

// loadCustomerVSchema shards every table of the test by hash(id).
var loadCustomerVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {` + func() string {
	var b strings.Builder
	for _, n := range []string{"t_tsv_customer", "t_csv_customer", "t_big_customer", "t_set_customer", "t_dup_customer", "t_imp_customer", "t_err", "t_tx", "t_nocols"} {
		fmt.Fprintf(&b, "%q: {\"column_vindexes\": [{\"column\": \"id\", \"name\": \"hash\"}]},\n", n)
	}
	return b.String()
}() + `
    "ldauth": {"column_vindexes": [{"column": "id", "name": "hash"}],
      "columns": [{"name": "id"}, {"name": "name"}, {"name": "note"}], "column_list_authoritative": true}
  }
}`

const loadDDL = "create table %s (id bigint primary key, name varchar(200), note text) default charset utf8mb4"

// TestLoadDataLocal loads files through the gate with LOAD DATA LOCAL
// INFILE (go-sql-driver and the mariadb client), into an unsharded and a
// sharded keyspace, and compares each table with the same load into a
// plain MariaDB; on the sharded keyspace every row must sit in the shard
// its vindex names.
func TestLoadDataLocal(t *testing.T) {
	pc := make(chan *cluster.Plain, 1)
	go func() {
		p, err := cluster.StartPlain(t)
		if err != nil {
			t.Error(err)
		}
		pc <- p
	}()
	c := cluster.Start(t, cluster.Options{Keyspaces: []cluster.Keyspace{
		{Name: "commerce"},
		{Name: "customer", Shards: []string{"-80", "80-"}, VSchema: loadCustomerVSchema},
	}})
	plain := <-pc
	if plain == nil {
		t.FailNow()
	}
	pdb := openDirect(t, plain.DSN(""))
	mustExec(t, pdb, "create database ldtest")
	dir := t.TempDir()
	gates := map[string]*sql.DB{
		"commerce": c.DB(t, "commerce", "allowAllFiles=true"),
		"customer": c.DB(t, "customer", "allowAllFiles=true"),
	}
	direct := openDirect(t, plain.DSN("ldtest", "allowAllFiles=true"))

	// tsv: escaped tabs, newlines, backslashes, NULLs, UTF-8, a quote.
	var tsv strings.Builder
	for i := 1; i <= 300; i++ {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&tsv, "%d\t\\N\tnull note %d\n", i, i)
		case 1:
			fmt.Fprintf(&tsv, "%d\ttab\\there\tline\\nbreak \\\\ back %d\n", i, i)
		case 2:
			fmt.Fprintf(&tsv, "%d\tdéjà vu 日本 %d\t'quoted' \"double\" %d\n", i, i, i)
		default:
			fmt.Fprintf(&tsv, "%d\tname %d\t\n", i, i)
		}
	}
	tsvPath := writeFile(t, dir, "rows.tsv", tsv.String())
	// csv: a header, CRLF, quoted fields with commas, quotes and a CRLF.
	var csvb strings.Builder
	csvb.WriteString("id,name,note\r\n")
	for i := 1; i <= 200; i++ {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&csvb, "%d,\"a, b %d\",\"say \"\"hi\"\"\"\r\n", i, i)
		case 1:
			fmt.Fprintf(&csvb, "%d,\"two\r\nlines\",NULL\r\n", i)
		case 2:
			fmt.Fprintf(&csvb, "%d,plain %d,\"NULL\"\r\n", i, i)
		default:
			fmt.Fprintf(&csvb, "%d,,ü\r\n", i)
		}
	}
	csvPath := writeFile(t, dir, "rows.csv", csvb.String())
	const csvClause = `FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' LINES TERMINATED BY '\r\n' IGNORE 1 LINES`
	// big: over 16 MiB, so the client sends it in many packets.
	var big strings.Builder
	pad := strings.Repeat("x", 180)
	for i := 1; big.Len() < 17<<20; i++ {
		fmt.Fprintf(&big, "%d\tbig %d\t%s %d\n", i, i, pad, i)
	}
	bigPath := writeFile(t, dir, "big.tsv", big.String())

	cases := []struct {
		name, table, stmt string
	}{
		{"tsv", "t_tsv", "LOAD DATA LOCAL INFILE '%s' INTO TABLE %s (id, name, note)"},
		{"csv", "t_csv", "LOAD DATA LOCAL INFILE '%s' INTO TABLE %s CHARACTER SET utf8mb4 " + csvClause + " (id, name, note)"},
		{"big", "t_big", "LOAD DATA LOCAL INFILE '%s' INTO TABLE %s (id, name, note)"},
		{"set", "t_set", "LOAD DATA LOCAL INFILE '%s' INTO TABLE %s (id, @n, note) SET name = upper(@n)"},
	}
	paths := map[string]string{"tsv": tsvPath, "csv": csvPath, "big": bigPath, "set": tsvPath}
	for _, ks := range []string{"commerce", "customer"} {
		for _, tc := range cases {
			t.Run(ks+"/"+tc.name, func(t *testing.T) {
				table := tc.table + "_" + ks
				mustExec(t, gates[ks], fmt.Sprintf(loadDDL, table))
				mustExec(t, direct, fmt.Sprintf(loadDDL, table))
				q := fmt.Sprintf(tc.stmt, paths[tc.name], table)
				gr := mustExec(t, gates[ks], q)
				dr := mustExec(t, direct, q)
				gn, _ := gr.RowsAffected()
				dn, _ := dr.RowsAffected()
				if gn != dn || gn == 0 {
					t.Fatalf("rows affected: gate %d, mariadb %d", gn, dn)
				}
				if g, d := tableSum(t, gates[ks], table), tableSum(t, direct, table); g != d {
					t.Fatalf("table %s: gate %s, mariadb %s", table, g, d)
				}
				if ks == "customer" {
					checkPlacement(t, c, table)
				}
			})
		}
	}

	t.Run("mariadb client", func(t *testing.T) {
		if _, err := lookPath("mariadb"); err != nil {
			t.Skip("mariadb client not installed")
		}
		host, port, _ := net.SplitHostPort(c.GateAddr)
		gateArgs := []string{"--local-infile=1", "-vvv", "-h", host, "-P", port, "-u", "root"}
		plainArgs := []string{"--local-infile=1", "-vvv", "-h", "127.0.0.1", "-P", fmt.Sprint(plain.Port), "-u", "root", "ldtest"}
		dup := writeFile(t, dir, "dup.tsv", "1\tone\n2\ttwo\n3\tthree\n")
		dup2 := writeFile(t, dir, "dup2.tsv", "2\tTWO\n3\tTHREE\n4\tfour\n")
		info := regexp.MustCompile(`Records: \d+  Deleted: \d+  Skipped: \d+  Warnings: \d+`)
		for _, ks := range []string{"commerce", "customer"} {
			table := "t_dup_" + ks
			mustExec(t, gates[ks], fmt.Sprintf(loadDDL, table))
			mustExec(t, direct, fmt.Sprintf(loadDDL, table))
			script := fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' INTO TABLE %s (id, name);\n", dup, table) +
				fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' IGNORE INTO TABLE %s (id, name);\n", dup2, table) +
				fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' REPLACE INTO TABLE %s (id, name);\n", dup2, table) +
				fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' INTO TABLE %s IGNORE 1 ROWS (id, name);\n", dup2, table)
			gout, err := runMariadb(t, "", append(gateArgs, ks, "-e", script)...)
			if err != nil {
				t.Fatalf("%s: mariadb through the gate: %v\n%s", ks, err, gout)
			}
			pout, err := runMariadb(t, "", append(plainArgs, "-e", script)...)
			if err != nil {
				t.Fatalf("mariadb direct: %v\n%s", err, pout)
			}
			g, p := info.FindAllString(gout, -1), info.FindAllString(pout, -1)
			if len(g) != 4 || strings.Join(g, "|") != strings.Join(p, "|") {
				t.Fatalf("%s: info strings: gate %q, mariadb %q\n%s", ks, g, p, gout)
			}
			if g, d := tableSum(t, gates[ks], table), tableSum(t, direct, table); g != d {
				t.Fatalf("table %s: gate %s, mariadb %s", table, g, d)
			}
		}
		// Without --local-infile the client refuses, as with mysqld.
		out, err := runMariadb(t, "", "--local-infile=0", "-h", host, "-P", port, "-u", "root", "commerce", "-e",
			fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' INTO TABLE t_dup_commerce", dup))
		if err == nil {
			t.Fatalf("load without --local-infile succeeded: %s", out)
		}
	})

	t.Run("mariadb-import", func(t *testing.T) {
		// mariadb-import --local: LOAD DATA LOCAL into the table the file
		// is named after.
		if _, err := lookPath("mariadb-import"); err != nil {
			t.Skip("mariadb-import not installed")
		}
		host, port, _ := net.SplitHostPort(c.GateAddr)
		for _, ks := range []string{"commerce", "customer"} {
			table := "t_imp_" + ks
			mustExec(t, gates[ks], fmt.Sprintf(loadDDL, table))
			mustExec(t, direct, fmt.Sprintf(loadDDL, table))
			file := writeFile(t, t.TempDir(), table+".txt", "10\tten\n11\televen\n12\t\\N\n2\tdup\n")
			args := []string{"--local", "--ignore", "--columns=id,name"}
			gout, err := exec.CommandContext(t.Context(), "mariadb-import", append(args, "-h", host, "-P", port, "-u", "root", ks, file)...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: mariadb-import through the gate: %v\n%s", ks, err, gout)
			}
			pout, err := exec.CommandContext(t.Context(), "mariadb-import", append(args, "-h", "127.0.0.1", "-P", fmt.Sprint(plain.Port), "-u", "root", "ldtest", file)...).CombinedOutput()
			if err != nil {
				t.Fatalf("mariadb-import direct: %v\n%s", err, pout)
			}
			if !strings.Contains(string(gout), "Records: 4  Deleted: 0  Skipped: 0") {
				t.Errorf("%s: mariadb-import says %q", ks, gout)
			}
			if g, d := tableSum(t, gates[ks], table), tableSum(t, direct, table); g != d {
				t.Fatalf("table %s after mariadb-import: gate %s, mariadb %s", table, g, d)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		db := gates["customer"]
		mustExec(t, db, fmt.Sprintf(loadDDL, "ldauth"))
		mustExec(t, db, fmt.Sprintf(loadDDL, "t_err"))
		for _, tc := range []struct {
			q    string
			code uint16
			want string
		}{
			{fmt.Sprintf("LOAD DATA INFILE '%s' INTO TABLE t_err", tsvPath), 1235, "without LOCAL"},
			{fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' INTO TABLE t_err (@i, name) SET id = @i", tsvPath), 1235, "sharding column"},
			{fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' INTO TABLE t_err (@i, name)", tsvPath), 1235, "sharding column"},
			{fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' INTO TABLE no_such_table (id)", tsvPath), 1146, ""},
		} {
			_, err := db.Exec(tc.q)
			if err == nil {
				t.Errorf("%s: no error", tc.q)
				continue
			}
			if code, _ := mysqlErr(t, err); code != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want %d %q", tc.q, err, tc.code, tc.want)
			}
		}
		// The connection is still in step: a statement after the errors works.
		if n := count(t, db, "select count(*) from t_err"); n != 0 {
			t.Fatalf("t_err holds %d rows after failed loads", n)
		}
		// Without a column list: the VSchema's authoritative columns, or
		// those the gate learns from the shards.
		for _, table := range []string{"ldauth", "t_nocols"} {
			if table != "ldauth" {
				mustExec(t, db, fmt.Sprintf(loadDDL, table))
			}
			mustExec(t, db, fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' INTO TABLE %s", tsvPath, table))
			mustExec(t, direct, fmt.Sprintf(loadDDL, table))
			mustExec(t, direct, fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' INTO TABLE %s", tsvPath, table))
			if g, d := tableSum(t, db, table), tableSum(t, direct, table); g != d {
				t.Fatalf("%s: gate %s, mariadb %s", table, g, d)
			}
			checkPlacement(t, c, table)
		}
	})

	t.Run("transaction", func(t *testing.T) {
		db := gates["customer"]
		mustExec(t, db, fmt.Sprintf(loadDDL, "t_tx"))
		conn, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, q := range []string{"begin", fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' INTO TABLE t_tx (id, name, note)", tsvPath)} {
			if _, err := conn.ExecContext(t.Context(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		var n int
		if err := conn.QueryRowContext(t.Context(), "select count(*) from t_tx").Scan(&n); err != nil || n != 300 {
			t.Fatalf("inside the transaction: %d rows, %v", n, err)
		}
		if _, err := conn.ExecContext(t.Context(), "rollback"); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "select count(*) from t_tx"); n != 0 {
			t.Fatalf("after rollback: %d rows", n)
		}
	})
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tableSum is a checksum of a table's rows: count and sum of CRC32s.
func tableSum(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	var n int
	var s sql.NullString
	q := fmt.Sprintf(`select count(*), sum(crc32(concat_ws('|', id, ifnull(name, '<NULL>'), ifnull(note, '<NULL>')))) from %s`, table)
	if err := db.QueryRow(q).Scan(&n, &s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return fmt.Sprintf("%d rows, crc %s", n, s.String)
}

// checkPlacement checks that every row of a customer table sits in the
// shard its hash vindex names.
func checkPlacement(t *testing.T, c *cluster.Cluster, table string) {
	t.Helper()
	total := 0
	for _, sh := range []string{"-80", "80-"} {
		kr, err := keyrange.Parse(sh)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := openDirect(t, c.DirectDSN("customer", sh)).Query("select id from " + table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ksid, _ := vindexes.Hash{}.Map(id)
			if !keyrange.Contains(kr, ksid) {
				t.Fatalf("%s: row %d is in shard %s", table, id, sh)
			}
			total++
		}
		rows.Close()
	}
	if total == 0 {
		t.Fatalf("%s: no rows in any shard", table)
	}
}
