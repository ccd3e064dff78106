package router

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// loadTestVSchema builds the VSchema of testdata/vschema.json.
func loadTestVSchema(t testing.TB) *VSchema {
	t.Helper()
	raw, err := os.ReadFile("testdata/vschema.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keyspaces map[string]struct {
			Shards  []string        `json:"shards"`
			VSchema json.RawMessage `json:"vschema"`
		} `json:"keyspaces"`
		RoutingRules []struct {
			From string   `json:"from_table"`
			To   []string `json:"to_tables"`
		} `json:"routing_rules"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var in []KeyspaceInput
	for name, k := range doc.Keyspaces {
		ks := &vschemapb.Keyspace{}
		if err := protojson.Unmarshal(k.VSchema, ks); err != nil {
			t.Fatalf("keyspace %s: %v", name, err)
		}
		in = append(in, KeyspaceInput{Name: name, VSchema: ks, Shards: k.Shards})
	}
	rules := &topodatapb.RoutingRules{}
	for _, r := range doc.RoutingRules {
		rules.Rules = append(rules.Rules, &topodatapb.RoutingRule{FromTable: r.From, ToTables: r.To})
	}
	vs := BuildVSchema(in, rules)
	for _, ks := range vs.Keyspaces {
		if ks.Error != nil {
			t.Fatal(ks.Error)
		}
	}
	return vs
}

// mapColumns is the ColumnSource of golden tests: testdata/columns.json
// gives each keyspace's tables' columns, as the gate would learn them.
type mapColumns map[string]map[string][]string

func (m mapColumns) Columns(keyspace, table string) ([]string, bool) {
	cols, ok := m[keyspace][table]
	return cols, ok
}

func loadTestColumns(t testing.TB) mapColumns {
	t.Helper()
	raw, err := os.ReadFile("testdata/columns.json")
	if err != nil {
		t.Fatal(err)
	}
	var m mapColumns
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

type goldenCase struct {
	Comment  string          `json:"comment"`
	Query    string          `json:"query"`
	Keyspace string          `json:"keyspace,omitempty"`
	Plan     json.RawMessage `json:"plan,omitempty"`
}

// describePlan is what golden files hold for a statement: the operator
// tree with the SQL each route sends to each shard, or the error.
func describePlan(r *Router, q, keyspace string, tt topodatapb.TabletType) any {
	plan, bv, err := r.PlanAt(q, keyspace, tt, 0)
	if cn := (*ColumnsNeededError)(nil); errors.As(err, &cn) {
		return map[string]any{"columns_needed": cn.Keyspace + "." + cn.Table, "error": err.Error()}
	}
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	if plan.Kind == PlanSession {
		return map[string]any{"session": plan.StmtType}
	}
	d := describeWithShards(plan.Primitive, bv)
	d["type"] = plan.Type
	if len(plan.Params) > 0 {
		d["params"] = plan.Params
	}
	return d
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*_cases.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	total := 0
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var cases []goldenCase
			if err := json.Unmarshal(raw, &cases); err != nil {
				t.Fatal(err)
			}
			cfg := DefaultConfig()
			cfg.Columns = loadTestColumns(t)
			r := New(cfg)
			r.SetVSchema(loadTestVSchema(t))
			for i := range cases {
				c := &cases[i]
				// "keyspace@replica" plans for a session of that
				// tablet type, as `USE keyspace@replica` makes.
				ks, tt := c.Keyspace, topodatapb.TabletType_PRIMARY
				if k, typ, ok := strings.Cut(ks, "@"); ok {
					ks, tt = k, topodatapb.TabletType(topodatapb.TabletType_value[strings.ToUpper(typ)])
				}
				switch ks {
				case "":
					ks = "customer"
				case "none":
					ks = ""
				}
				got, err := json.MarshalIndent(describePlan(r, c.Query, ks, tt), "    ", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if *update {
					c.Plan = got
					continue
				}
				var want, have any
				_ = json.Unmarshal(c.Plan, &want)
				_ = json.Unmarshal(got, &have)
				w, _ := json.Marshal(want)
				h, _ := json.Marshal(have)
				if !bytes.Equal(w, h) {
					t.Errorf("%s\nquery: %s\nwant: %s\ngot:  %s", c.Comment, c.Query, c.Plan, got)
				}
			}
			total += len(cases)
			if *update {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				if err := enc.Encode(cases); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	t.Logf("%d golden cases", total)
	_ = strings.TrimSpace
}
