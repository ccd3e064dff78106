package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
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
	want := run(c.OpenRootOverTCP(t, "commerce", "0"))
	got := run(c.GateAddr)
	// getCatalogs reads information_schema.SCHEMATA: through the gate it
	// lists the keyspaces (as SHOW DATABASES does), where the tablet's
	// mysqld lists its own databases.
	catalogs, got := cutSection(got, "== getCatalogs")
	_, want = cutSection(want, "== getCatalogs")
	wantCatalogs := []string{"== getCatalogs", "catalogs cols: TABLE_CAT"}
	for _, ks := range slices.Sorted(maps.Keys(c.Shards)) {
		wantCatalogs = append(wantCatalogs, "  "+ks+":String")
	}
	wantCatalogs = append(wantCatalogs, "  information_schema:String", fmt.Sprintf("  (%d rows)", len(c.Shards)+1))
	if !slices.Equal(catalogs, wantCatalogs) {
		t.Errorf("getCatalogs through the gate:\n%s\nwant:\n%s", strings.Join(catalogs, "\n"), strings.Join(wantCatalogs, "\n"))
	}
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

// cutSection removes the lines of a transcript's section (from its
// "== name" line to the next "== " line) and returns them and the rest.
func cutSection(lines []string, head string) (section, rest []string) {
	in := false
	for _, l := range lines {
		switch {
		case l == head:
			in = true
		case in && strings.HasPrefix(l, "== "):
			in = false
		}
		if in {
			section = append(section, l)
		} else {
			rest = append(rest, l)
		}
	}
	return section, rest
}
