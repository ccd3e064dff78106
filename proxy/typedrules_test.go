package proxy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

// TestTypedRoutingRules checks that the gate plans a session's statements
// for its tablet type: a rule from t@replica sends the tables of
// `ks@replica` sessions to another keyspace, while primary sessions follow
// the rule without a type (EXPLAIN FORMAT=mosaic names the keyspace; no
// tablet is needed).
func TestTypedRoutingRules(t *testing.T) {
	tg := startTestGateWith(t, nil, func(g *Gate) {
		ctx := t.Context()
		for _, ks := range []string{"src2", "dst"} {
			if err := g.ts.CreateKeyspace(ctx, ks, &topodatapb.Keyspace{}); err != nil {
				t.Fatal(err)
			}
			if err := g.ts.CreateShard(ctx, ks, "0"); err != nil {
				t.Fatal(err)
			}
		}
		if err := g.ts.SaveRoutingRules(ctx, &topodatapb.RoutingRules{Rules: []*topodatapb.RoutingRule{
			{FromTable: "t", ToTables: []string{"src2.t"}},
			{FromTable: "t@replica", ToTables: []string{"dst.t"}},
		}}); err != nil {
			t.Fatal(err)
		}
	})
	explain := func(db, sql string) string {
		c, err := client.ConnectWithContext(t.Context(), tg.addr, "root", "", db, 10*time.Second)
		if err != nil {
			t.Fatalf("connect to %s: %v", db, err)
		}
		defer c.Close()
		res, err := c.Execute("EXPLAIN FORMAT=mosaic " + sql)
		if err != nil {
			return err.Error()
		}
		var b strings.Builder
		for i := range res.Values {
			for j := range res.Fields {
				s, _ := res.GetString(i, j)
				fmt.Fprintf(&b, "%s ", s)
			}
		}
		return b.String()
	}
	for _, c := range []struct{ db, want, not string }{
		{"ks", "src2", "dst"},
		{"ks@replica", "dst", "src2"},
		{"ks@rdonly", "src2", "dst"},
		{"ks@primary", "src2", "dst"},
	} {
		var got string
		waitFor(t, 10*time.Second, "the rules to reach the gate", func() bool {
			got = explain(c.db, "SELECT * FROM t")
			return strings.Contains(got, c.want)
		})
		t.Logf("%s: %s", c.db, got)
		if strings.Contains(got, c.not) {
			t.Errorf("session %s: %s", c.db, got)
		}
	}
	// USE switches the type, and the plan with it.
	conn := tg.connect(t)
	for _, c := range []struct{ use, want string }{{"ks@replica", "dst"}, {"ks", "src2"}, {"ks@replica", "dst"}} {
		if _, err := conn.Execute("USE " + c.use); err != nil {
			t.Fatal(err)
		}
		res, err := conn.Execute("EXPLAIN FORMAT=mosaic SELECT * FROM t WHERE id = 1")
		if err != nil {
			t.Fatal(err)
		}
		var row []string
		for j := range res.Fields {
			s, _ := res.GetString(0, j)
			row = append(row, s)
		}
		if got := strings.Join(row, " "); !strings.Contains(got, c.want) {
			t.Errorf("after USE %s: %s, want %s", c.use, got, c.want)
		}
	}
}
