package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// jdbcJar is where Debian's libmariadb-java puts MariaDB Connector/J;
// MOSAIC_JDBC_JAR names another jar.
const jdbcJar = "/usr/share/java/mariadb-java-client.jar"

// connIDs are the connection ids Connector/J writes into its error
// messages, which differ between any two runs.
var connIDs = regexp.MustCompile(`\(conn=\d+\)`)

// testJDBC runs testdata/JdbcProbe.java (what Java applications and
// tools do through MariaDB Connector/J: metadata, prepared statements of
// every common type, batches, generated keys, transactions and
// savepoints, streaming, query timeouts, multi-queries, callable
// statements) straight on the unsharded keyspace's mysqld and then
// through the gate, and compares the two transcripts line by line.
func testJDBC(t *testing.T, c *cluster.Cluster) {
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("no java (apt-get install default-jre-headless libmariadb-java)")
	}
	jar := os.Getenv("MOSAIC_JDBC_JAR")
	if jar == "" {
		jar = jdbcJar
	}
	if _, err := os.Stat(jar); err != nil {
		t.Skipf("no MariaDB Connector/J at %s (apt-get install libmariadb-java, or set MOSAIC_JDBC_JAR)", jar)
	}
	run := func(addr string) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, java, "-cp", jar, "testdata/JdbcProbe.java", addr, "commerce")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("JdbcProbe on %s: %v\n%s", addr, err, stderr.String())
		}
		return strings.Split(connIDs.ReplaceAllString(string(out), ""), "\n")
	}
	want := run(fmt.Sprintf("127.0.0.1:%d", c.Shards["commerce"]["0"].Primary().MySQLPort))
	got := run(c.GateAddr)
	section := ""
	bad := 0
	for i := 0; i < len(want) || i < len(got); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if strings.HasPrefix(w, "== ") {
			section = w
		}
		if g != w {
			t.Errorf("%s, line %d:\n  gate:    %s\n  mariadb: %s", section, i+1, g, w)
			if bad++; bad == 20 {
				t.Fatal("too many differences")
			}
		}
	}
	if len(want) < 500 {
		t.Fatalf("the transcript has %d lines only", len(want))
	}
}
