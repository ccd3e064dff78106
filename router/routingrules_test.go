package router

import (
	"errors"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

func TestSplitRuleFrom(t *testing.T) {
	for _, c := range []struct {
		from, name string
		tt         topodatapb.TabletType
		err        string
	}{
		{from: "customer", name: "customer"},
		{from: "Commerce.Customer", name: "commerce.customer"},
		{from: "customer@replica", name: "customer", tt: topodatapb.TabletType_REPLICA},
		{from: "commerce.customer@RDONLY", name: "commerce.customer", tt: topodatapb.TabletType_RDONLY},
		{from: "customer@primary", err: "tablet type \"primary\""},
		{from: "customer@", err: "tablet type \"\""},
		{from: "a.b.c", err: "is not table"},
		{from: ".t@replica", err: "is not table"},
		{from: "@replica", err: "is not table"},
	} {
		name, tt, err := SplitRuleFrom(c.from)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: got %v, want an error with %q", c.from, err, c.err)
			}
			continue
		}
		if err != nil || name != c.name || tt != c.tt {
			t.Errorf("%q: got %q %v %v, want %q %v", c.from, name, tt, err, c.name, c.tt)
		}
	}
}

func TestValidateRoutingRules(t *testing.T) {
	rule := func(from, to string) *topodatapb.RoutingRule {
		return &topodatapb.RoutingRule{FromTable: from, ToTables: []string{to}}
	}
	ok := &topodatapb.RoutingRules{Rules: []*topodatapb.RoutingRule{
		rule("customer", "commerce.customer"),
		rule("customer@replica", "customer.customer"),
		rule("customer@rdonly", "customer.customer"),
		rule("commerce.customer@replica", "customer.customer"),
	}}
	if err := ValidateRoutingRules(ok); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rules []*topodatapb.RoutingRule
		err   string
	}{
		{[]*topodatapb.RoutingRule{rule("customer@replica", "a.b"), rule("Customer@REPLICA", "a.c")}, "two routing rules for customer@replica"},
		{[]*topodatapb.RoutingRule{rule("customer", "a.b"), rule("CUSTOMER", "a.c")}, "two routing rules for customer"},
		{[]*topodatapb.RoutingRule{rule("customer@spare", "a.b")}, "tablet type \"spare\""},
		{[]*topodatapb.RoutingRule{rule("customer@replica", "customer")}, "is not keyspace.table"},
		{[]*topodatapb.RoutingRule{{FromTable: "customer@replica"}}, "exactly one"},
		{[]*topodatapb.RoutingRule{rule(" ", "a.b")}, "no from_table"},
	} {
		err := ValidateRoutingRules(&topodatapb.RoutingRules{Rules: c.rules})
		if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrInvalidRoutingRules) {
			t.Errorf("%v: got %v, want %q", c.rules, err, c.err)
		}
	}
}

// TestPlanAtSharesPlans checks that the plan cache tells apart the
// tablet types that have rules of their own, and only those.
func TestPlanAtSharesPlans(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	q := "select * from item where id = 7"
	ks := func(tt topodatapb.TabletType) string {
		p, _, err := r.PlanAt(q, "commerce", tt, 0)
		if err != nil {
			t.Fatal(err)
		}
		return p.Primitive.(*Route).Keyspace.Name
	}
	for i := 0; i < 2; i++ {
		if got := ks(topodatapb.TabletType_PRIMARY); got != "commerce" {
			t.Errorf("primary: %s", got)
		}
		if got := ks(topodatapb.TabletType_REPLICA); got != "customer" {
			t.Errorf("replica: %s", got)
		}
		if got := ks(topodatapb.TabletType_RDONLY); got != "commerce" {
			t.Errorf("rdonly: %s", got)
		}
	}
	vs := r.VSchema()
	if vs.planType(topodatapb.TabletType_RDONLY) != topodatapb.TabletType_RDONLY || vs.planType(topodatapb.TabletType_SPARE) != topodatapb.TabletType_PRIMARY {
		t.Errorf("planType: rdonly has a rule (legacy_customer@rdonly), spare none")
	}
}
