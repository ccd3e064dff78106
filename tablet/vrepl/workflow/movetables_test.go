package workflow

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/memstore"
)

func ruleLines(rr *topodatapb.RoutingRules) []string {
	var out []string
	for _, r := range rr.GetRules() {
		out = append(out, r.FromTable+" -> "+strings.Join(r.ToTables, ","))
	}
	return out
}

func TestRouteTables(t *testing.T) {
	other := &topodatapb.RoutingRule{FromTable: "t9", ToTables: []string{"x.t9"}}
	rr := &topodatapb.RoutingRules{Rules: []*topodatapb.RoutingRule{other}}

	before := routeTables(rr, []string{"customer", "Corder"}, "commerce", "customer", "commerce")
	want := []string{
		"t9 -> x.t9",
		"customer -> commerce.customer", "commerce.customer -> commerce.customer", "customer.customer -> commerce.customer",
		"corder -> commerce.Corder", "commerce.corder -> commerce.Corder", "customer.corder -> commerce.Corder",
	}
	if got := ruleLines(before); !slices.Equal(got, want) {
		t.Errorf("rules before the switch:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(rr.Rules) != 1 {
		t.Errorf("routeTables changed its argument: %v", ruleLines(rr))
	}
	for _, tbl := range []string{"customer", "Corder"} {
		if ks := routedTo(before, tbl, "commerce", "customer"); ks != "commerce" {
			t.Errorf("%s routed to %q before the switch", tbl, ks)
		}
	}

	after := routeTables(before, []string{"customer", "Corder"}, "commerce", "customer", "customer")
	if got := ruleLines(after); len(got) != 7 || got[0] != "t9 -> x.t9" || got[1] != "customer -> customer.customer" {
		t.Errorf("rules after the switch: %v", got)
	}
	if ks := routedTo(after, "corder", "commerce", "customer"); ks != "customer" {
		t.Errorf("corder routed to %q after the switch", ks)
	}

	gone := unrouteTables(after, []string{"customer", "Corder"}, "commerce", "customer")
	if got := ruleLines(gone); !slices.Equal(got, []string{"t9 -> x.t9"}) {
		t.Errorf("rules after complete: %v", got)
	}
	if ks := routedTo(gone, "customer", "commerce", "customer"); ks != "" {
		t.Errorf("customer routed to %q without rules", ks)
	}

	// Rules that disagree (edited by hand halfway) route nowhere.
	mixed := routeTables(before, []string{"customer"}, "commerce", "customer", "customer")
	mixed.Rules[len(mixed.Rules)-1].ToTables = []string{"commerce.customer"}
	if ks := routedTo(mixed, "customer", "commerce", "customer"); ks != "" {
		t.Errorf("customer routed to %q by rules that disagree", ks)
	}
}

func TestRulesConflict(t *testing.T) {
	rr := &topodatapb.RoutingRules{Rules: []*topodatapb.RoutingRule{{FromTable: "Commerce.Customer", ToTables: []string{"other.customer"}}}}
	if err := rulesConflict(rr, []string{"customer"}, "commerce", "customer"); err == nil || !strings.Contains(err.Error(), "Commerce.Customer -> other.customer") {
		t.Errorf("a table with a rule: %v", err)
	}
	if err := rulesConflict(rr, []string{"corder"}, "commerce", "customer"); err != nil {
		t.Errorf("a table without a rule: %v", err)
	}
}

func TestPickTables(t *testing.T) {
	have := []string{"corder", "Customer", "product"}
	for _, c := range []struct {
		asked []string
		all   bool
		want  []string
		err   string
	}{
		{nil, true, have, ""},
		{[]string{"customer", "corder", "CUSTOMER"}, false, []string{"Customer", "corder"}, ""},
		{[]string{"customer", "nope", "gone"}, false, nil, "no table nope, gone"},
		{[]string{" "}, false, nil, "no tables named"},
	} {
		got, err := pickTables(have, c.asked, c.all)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: %v, %v; want an error with %q", c.asked, got, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%v all=%v: %v, %v; want %v", c.asked, c.all, got, err, c.want)
		}
	}
}

func TestMoveRules(t *testing.T) {
	sharded := &vschemapb.Keyspace{
		Sharded:  true,
		Vindexes: map[string]*vschemapb.Vindex{"hash": {Type: "hash"}},
		Tables: map[string]*vschemapb.Table{
			"customer": {ColumnVindexes: []*vschemapb.ColumnVindex{{Column: "id", Name: "hash"}}},
			"corder":   {ColumnVindexes: []*vschemapb.ColumnVindex{{Column: "customer_id", Name: "hash"}}},
			"nokey":    {},
		},
	}
	rules, err := moveRules(sharded, []string{"customer", "corder"}, 2)
	if err != nil || len(rules) != 2 || rules[0].VindexType != "hash" || rules[1].VindexColumn != "customer_id" {
		t.Errorf("sharded target: %v, %v", rules, err)
	}
	if _, err := moveRules(sharded, []string{"customer", "nokey", "product"}, 2); err == nil ||
		!strings.Contains(err.Error(), "table nokey has no primary vindex") || !strings.Contains(err.Error(), "table product is not in the VSchema") {
		t.Errorf("tables without a vindex: %v", err)
	}
	rules, err = moveRules(&vschemapb.Keyspace{}, []string{"customer"}, 1)
	if err != nil || len(rules) != 1 || rules[0].VindexType != "" {
		t.Errorf("unsharded target: %v, %v", rules, err)
	}
	if _, err := moveRules(&vschemapb.Keyspace{}, []string{"customer"}, 2); err == nil {
		t.Error("an unsharded VSchema over two shards was accepted")
	}
}

func TestMoveTablesTypes(t *testing.T) {
	p, r, o := topodatapb.TabletType_PRIMARY, topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY
	type tts = []topodatapb.TabletType
	for _, c := range []struct {
		switched, asked tts
		toTargets       bool
		want            tts
		err             string
	}{
		{nil, nil, true, tts{p, r, o}, ""},
		{nil, tts{r, o, p}, true, tts{p, r, o}, ""},
		{nil, tts{r}, true, tts{r}, ""},
		{nil, tts{o, r}, true, tts{r, o}, ""},
		// Primary takes the reads still on the source with it.
		{nil, tts{p}, true, tts{p, r, o}, ""},
		{tts{r}, tts{p}, true, tts{p, o}, ""},
		{tts{r, o}, nil, true, tts{p}, ""},
		{tts{r}, tts{r}, true, nil, "replica traffic is on the target shards already"},
		{tts{p, r, o}, nil, true, nil, "already"},
		{nil, nil, false, nil, "no traffic has been switched"},
		{nil, tts{r}, false, nil, "replica traffic is on the source shards already"},
		// A reverse moves what it is asked to, all switched types by default.
		{tts{p, r, o}, nil, false, tts{p, r, o}, ""},
		{tts{p, r, o}, tts{p}, false, tts{p}, ""},
		{tts{p, r, o}, tts{r}, false, tts{r}, ""},
		{tts{r}, nil, false, tts{r}, ""},
		{tts{r, o}, tts{p}, false, nil, "primary traffic is on the source shards already"},
		{nil, tts{topodatapb.TabletType_SPARE}, true, nil, "has no traffic"},
	} {
		wf := &vreplicationpb.Workflow{Name: "mt", Type: vreplicationpb.WorkflowType_MOVE_TABLES, SwitchedTypes: c.switched}
		got, err := moveTablesTypes(wf, c.asked, c.toTargets)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("switched %v, asked %v, forward %v: %v %v, want an error with %q", c.switched, c.asked, c.toTargets, got, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("switched %v, asked %v, forward %v: %v %v, want %v", c.switched, c.asked, c.toTargets, got, err, c.want)
		}
	}
}

// TestRouteTypes checks the rules of each state of a move's traffic, as
// the gates resolve them per tablet type, and that checkRoutes accepts
// exactly the rules of the record's state.
func TestRouteTypes(t *testing.T) {
	p, r, o := topodatapb.TabletType_PRIMARY, topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY
	other := &topodatapb.RoutingRule{FromTable: "t9", ToTables: []string{"x.t9"}}
	base := &topodatapb.RoutingRules{Rules: []*topodatapb.RoutingRule{other}}
	tables := []string{"customer", "Corder"}
	reads := routeTypes(base, tables, "commerce", "customer", []topodatapb.TabletType{r})
	want := []string{
		"t9 -> x.t9",
		"customer -> commerce.customer", "commerce.customer -> commerce.customer", "customer.customer -> commerce.customer",
		"corder -> commerce.Corder", "commerce.corder -> commerce.Corder", "customer.corder -> commerce.Corder",
		"customer@replica -> customer.customer", "commerce.customer@replica -> customer.customer", "customer.customer@replica -> customer.customer",
		"corder@replica -> customer.Corder", "commerce.corder@replica -> customer.Corder", "customer.corder@replica -> customer.Corder",
	}
	if got := ruleLines(reads); !slices.Equal(got, want) {
		t.Errorf("rules with replica reads switched:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := router.ValidateRoutingRules(reads); err != nil {
		t.Errorf("the gates refuse the rules: %v", err)
	}
	for tt, ks := range map[topodatapb.TabletType]string{p: "commerce", r: "customer", o: "commerce"} {
		if got := routedToType(reads, "corder", "commerce", "customer", tt); got != ks {
			t.Errorf("%v routed to %q, want %s", tt, got, ks)
		}
	}
	// Every type on the target: no typed rules are left.
	all := routeTypes(reads, tables, "commerce", "customer", []topodatapb.TabletType{p, r, o})
	if got := ruleLines(all); len(got) != 7 || got[1] != "customer -> customer.customer" {
		t.Errorf("rules with every type switched: %v", got)
	}
	// Writes on the target, replica reads back on the source.
	back := routeTypes(all, tables, "commerce", "customer", []topodatapb.TabletType{p, o})
	for tt, ks := range map[topodatapb.TabletType]string{p: "customer", r: "commerce", o: "customer"} {
		if got := routedToType(back, "customer", "commerce", "customer", tt); got != ks {
			t.Errorf("after reversing replica reads: %v routed to %q, want %s", tt, got, ks)
		}
	}
	if got := ruleLines(unrouteTables(back, tables, "commerce", "customer")); !slices.Equal(got, []string{"t9 -> x.t9"}) {
		t.Errorf("unrouteTables left %v", got)
	}
	wf := &vreplicationpb.Workflow{Name: "mt", SourceKeyspace: "commerce", TargetKeyspace: "customer", Tables: []*vreplicationpb.TableRule{{Name: "customer"}, {Name: "Corder"}}}
	wf.SwitchedTypes = []topodatapb.TabletType{r}
	if err := checkRoutes(reads, wf); err != nil {
		t.Errorf("checkRoutes of the rules of the record's state: %v", err)
	}
	if err := checkRoutes(all, wf); err == nil || !strings.Contains(err.Error(), "primary traffic of table customer") {
		t.Errorf("checkRoutes of rules ahead of the record: %v", err)
	}
	wf.SwitchedTypes = []topodatapb.TabletType{p, r}
	if err := checkRoutes(all, wf); err == nil || !strings.Contains(err.Error(), "rdonly") {
		t.Errorf("checkRoutes of rdonly routed elsewhere than the record says: %v", err)
	}
	// A typed rule of one of the names by hand is a conflict for create.
	hand := &topodatapb.RoutingRules{Rules: []*topodatapb.RoutingRule{{FromTable: "commerce.customer@rdonly", ToTables: []string{"x.customer"}}}}
	if err := rulesConflict(hand, []string{"customer"}, "commerce", "customer"); err == nil {
		t.Error("a typed rule of a table to move is no conflict")
	}
}

// CreateMoveTables refuses, changing nothing, before it reaches a tablet:
// the memory topo has keyspaces but no tablets.
func TestCreateMoveTablesRefusals(t *testing.T) {
	ctx := t.Context()
	ts := topo.NewServer(memstore.New())
	defer ts.Close()
	m := &Manager{ts: ts, Log: slog.New(slog.DiscardHandler), Dial: func(*topodatapb.Tablet) (*tmclient.Client, error) {
		t.Fatal("a refusal dialed a tablet")
		return nil, nil
	}}
	if err := ts.CreateKeyspaceWithShards(ctx, "commerce", &topodatapb.Keyspace{}, []string{"0"}); err != nil {
		t.Fatal(err)
	}
	if err := ts.CreateKeyspaceWithShards(ctx, "customer", &topodatapb.Keyspace{}, []string{"-80", "80-"}); err != nil {
		t.Fatal(err)
	}
	req := func(f func(*MoveTablesRequest)) MoveTablesRequest {
		r := MoveTablesRequest{Workflow: "mt", SourceKeyspace: "commerce", TargetKeyspace: "customer", Tables: []string{"customer"}}
		f(&r)
		return r
	}
	for _, c := range []struct {
		req  MoveTablesRequest
		want string
	}{
		{req(func(r *MoveTablesRequest) { r.Workflow = "bad name" }), "invalid name"},
		{req(func(r *MoveTablesRequest) { r.TargetKeyspace = "commerce" }), "both commerce"},
		{req(func(r *MoveTablesRequest) { r.AllTables = true }), "not both"},
		{req(func(r *MoveTablesRequest) { r.Tables = nil }), "not both"},
		{req(func(r *MoveTablesRequest) { r.SourceKeyspace = "nope" }), "source keyspace"},
		{req(func(r *MoveTablesRequest) { r.TargetKeyspace = "nope" }), "target keyspace"},
		{req(func(*MoveTablesRequest) {}), "shard commerce/0 has no primary"},
	} {
		if _, err := m.CreateMoveTables(ctx, c.req); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want an error with %q", c.req, err, c.want)
		}
	}
	if _, err := ts.BeginSwitch(ctx, topo.BeginSwitchRequest{Keyspace: "customer", TabletTypes: []topodatapb.TabletType{topodatapb.TabletType_PRIMARY}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateMoveTables(ctx, req(func(*MoveTablesRequest) {})); err == nil || !strings.Contains(err.Error(), "switch is under way") {
		t.Errorf("create during a switch: %v", err)
	}
	if wfs, _ := ts.ListWorkflows(ctx, "customer"); len(wfs) != 0 {
		t.Errorf("refusals wrote workflows: %v", wfs)
	}
	if rr, _ := ts.GetRoutingRules(ctx); len(rr.Rules) != 0 {
		t.Errorf("refusals wrote routing rules: %v", rr)
	}
}
