package e2e

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

var lookPath = exec.LookPath

// runMariadb runs the mariadb command-line client with args and stdin;
// it returns stdout and stderr together.
func runMariadb(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "mariadb", append([]string{"--no-defaults"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// testMariadbClient drives the mariadb command-line client: -e with
// several statements, a script on stdin, \G, and errors with their codes.
func testMariadbClient(t *testing.T, c *cluster.Cluster) {
	if _, err := lookPath("mariadb"); err != nil {
		t.Skip("mariadb client not installed (make deps installs it)")
	}
	host, port, _ := net.SplitHostPort(c.GateAddr)
	base := []string{"-h", host, "-P", port, "-u", "root"}
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, err := runMariadb(t, stdin, append(append([]string{}, base...), args...)...)
		if err != nil {
			t.Fatalf("mariadb %v: %v\n%s", args, err, out)
		}
		return out
	}
	out := run("", "customer", "-N", "-e",
		"create table cli (id bigint primary key, name varchar(20)); insert into cli (id, name) values (1, 'one'), (2, 'two'), (300, 'three hundred'); select count(*) from cli; select name from cli where id = 300")
	if got := strings.Fields(out); strings.Join(got, " ") != "3 three hundred" {
		t.Fatalf("-e output %q", out)
	}
	script := `-- a script as a file
use customer;
update cli set name = 'uno' where id = 1;
select id, name from cli order by id;
delimiter //
select 'after delimiter' //
delimiter ;
`
	out = run(script, "-N")
	if want := "1\tuno\n2\ttwo\n300\tthree hundred\nafter delimiter\n"; out != want {
		t.Fatalf("script output %q, want %q", out, want)
	}
	out = run("", "customer", "-e", `select id, name from cli where id = 2\G`)
	if !strings.Contains(out, "*************************** 1. row ***************************") || !strings.Contains(out, "name: two") {
		t.Fatalf("\\G output %q", out)
	}
	out, err := runMariadb(t, "", append(base, "customer", "-e", "select * from nosuch")...)
	if err == nil || !strings.Contains(out, "ERROR 1146 (42S02)") {
		t.Fatalf("error output %q %v", out, err)
	}
	out, err = runMariadb(t, "", append(base, "customer", "-e", "selec 1")...)
	if err == nil || !strings.Contains(out, "ERROR 1064 (42000)") {
		t.Fatalf("syntax error output %q %v", out, err)
	}
	out, err = runMariadb(t, "", append(base, "nosuchdb", "-e", "select 1")...)
	if err == nil || !strings.Contains(out, "1049") {
		t.Fatalf("unknown database output %q %v", out, err)
	}
	// mariadb-admin uses COM_PING and COM_STATISTICS.
	if _, err := lookPath("mariadb-admin"); err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		b, err := exec.CommandContext(ctx, "mariadb-admin", "--no-defaults", "-h", host, "-P", port, "-u", "root", "ping", "status").CombinedOutput()
		if err != nil || !strings.Contains(string(b), "mysqld is alive") || !strings.Contains(string(b), "Uptime:") {
			t.Fatalf("mariadb-admin: %v\n%s", err, b)
		}
	}
}

// sysbenchErrors matches the error counters of sysbench's report.
var sysbenchErrors = regexp.MustCompile(`ignored errors:\s+(\d+)`)

// testSysbench runs sysbench oltp_read_write (prepare, run, cleanup)
// against the unsharded and the sharded keyspace, with prepared
// statements (sysbench's default) and without, and requires zero errors.
func testSysbench(t *testing.T, c *cluster.Cluster) {
	if _, err := lookPath("sysbench"); err != nil {
		t.Skip("sysbench not installed (make deps installs it)")
	}
	host, port, _ := net.SplitHostPort(c.GateAddr)
	for _, ks := range []string{"commerce", "customer"} {
		t.Run(ks, func(t *testing.T) {
			common := []string{"oltp_read_write", "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
				"--mysql-user=root", "--mysql-db=" + ks, "--tables=2", "--table-size=10000", "--auto_inc=off"}
			sysbench := func(args ...string) string {
				t.Helper()
				ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
				defer cancel()
				b, err := exec.CommandContext(ctx, "sysbench", append(append([]string{}, common...), args...)...).CombinedOutput()
				if err != nil {
					t.Fatalf("sysbench %v: %v\n%s", args, err, b)
				}
				return string(b)
			}
			sysbench("cleanup")
			sysbench("prepare")
			for _, mode := range []string{"auto", "disable"} {
				out := sysbench("run", "--time=5", "--threads=4", "--db-ps-mode="+mode, "--report-interval=0")
				// sysbench exits non-zero on any error but deadlocks and lock
				// wait timeouts (1213, 1020, 1205), which it retries and
				// counts as ignored: those happen on mysqld itself under
				// this workload, but must stay rare.
				m := sysbenchErrors.FindStringSubmatch(out)
				tps := regexp.MustCompile(`transactions:\s+(\d+)`).FindStringSubmatch(out)
				if m == nil || tps == nil {
					t.Fatalf("sysbench run --db-ps-mode=%s:\n%s", mode, out)
				}
				ignored, _ := strconv.Atoi(m[1])
				txs, _ := strconv.Atoi(tps[1])
				t.Logf("sysbench %s --db-ps-mode=%s: %d transactions in 5s, %d ignored errors", ks, mode, txs, ignored)
				if txs == 0 || ignored*100 > txs {
					t.Fatalf("sysbench run --db-ps-mode=%s:\n%s", mode, out)
				}
			}
			db := c.DB(t, ks)
			if n := count(t, db, "select count(*) from sbtest1"); n < 900 {
				t.Fatalf("sbtest1 holds %d rows", n)
			}
			sysbench("cleanup")
		})
	}
}

// testScriptDriver runs a driver test written in another language
// (testdata/drivers.py: PyMySQL and mysqlclient; testdata/drivers.pl:
// DBD::MariaDB) against the gate's unsharded and sharded keyspaces; the script exits
// non-zero saying what differed, and prints want when all went well.
// make deps installs the drivers (Debian packages).
func testScriptDriver(t *testing.T, c *cluster.Cluster, interpreter, script, want string) {
	if _, err := lookPath(interpreter); err != nil {
		t.Skipf("%s not installed (make deps installs it)", interpreter)
	}
	host, port, _ := net.SplitHostPort(c.GateAddr)
	for _, ks := range []string{"commerce", "customer"} {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		out, err := exec.CommandContext(ctx, interpreter, script, host, port, ks).CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("%s %s on %s: %v\n%s", interpreter, script, ks, err, out)
		}
	}
}
