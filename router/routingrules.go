package router

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

// Routing rules (topo's /mosaic/routing_rules) redirect a table name to
// keyspace.table. A rule's from_table is "table" or "keyspace.table",
// optionally followed by a tablet type, as in Vitess: "table@replica",
// "keyspace.table@rdonly". A typed rule applies to the statements of
// sessions that target that tablet type (`USE commerce@replica`); a rule
// without a type applies to every tablet type that has no rule of its
// own for that name. A table move switches reads before writes this way:
// "customer@replica" goes to the new keyspace while "customer" (the
// primary's) still goes to the old one.

// ErrInvalidRoutingRules wraps every error ValidateRoutingRules returns.
var ErrInvalidRoutingRules = errors.New("invalid routing rules")

// SplitRuleFrom splits a rule's from_table into its lower-case table name
// ("table" or "keyspace.table") and its tablet type: UNKNOWN when it names
// none, REPLICA or RDONLY. Any other type, and a malformed name, is an
// error.
func SplitRuleFrom(from string) (name string, tt topodatapb.TabletType, err error) {
	name = strings.ToLower(strings.TrimSpace(from))
	if at := strings.LastIndexByte(name, '@'); at >= 0 {
		switch name[at+1:] {
		case "replica":
			tt = topodatapb.TabletType_REPLICA
		case "rdonly":
			tt = topodatapb.TabletType_RDONLY
		default:
			return "", 0, fmt.Errorf("from_table %q: tablet type %q: a rule names replica or rdonly (a rule without a type is the primary's)", from, name[at+1:])
		}
		name = name[:at]
	}
	parts := strings.Split(name, ".")
	if len(parts) > 2 || slices.Contains(parts, "") {
		return "", 0, fmt.Errorf("from_table %q is not table, keyspace.table, or either with @replica or @rdonly", from)
	}
	return name, tt, nil
}

// ValidateRoutingRules checks rules before they are stored: every
// from_table is well formed (SplitRuleFrom), no name has two rules for the
// same tablet type, and every rule names exactly one keyspace.table. Its
// errors wrap ErrInvalidRoutingRules.
func ValidateRoutingRules(rr *topodatapb.RoutingRules) error {
	seen := map[string]bool{}
	for _, r := range rr.GetRules() {
		if strings.TrimSpace(r.FromTable) == "" {
			return fmt.Errorf("%w: a routing rule has no from_table", ErrInvalidRoutingRules)
		}
		name, tt, err := SplitRuleFrom(r.FromTable)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidRoutingRules, err)
		}
		key := ruleKey(name, tt)
		if seen[key] {
			return fmt.Errorf("%w: two routing rules for %s", ErrInvalidRoutingRules, key)
		}
		seen[key] = true
		if len(r.ToTables) != 1 {
			return fmt.Errorf("%w: routing rule %s: to_tables must name exactly one keyspace.table", ErrInvalidRoutingRules, r.FromTable)
		}
		if ks, t, ok := strings.Cut(r.ToTables[0], "."); !ok || ks == "" || t == "" || strings.Contains(t, ".") {
			return fmt.Errorf("%w: routing rule %s: to_tables %q is not keyspace.table", ErrInvalidRoutingRules, r.FromTable, r.ToTables[0])
		}
	}
	return nil
}

// ruleKey is how a rule is shown and told apart: "name" or "name@type".
func ruleKey(name string, tt topodatapb.TabletType) string {
	if tt == topodatapb.TabletType_UNKNOWN {
		return name
	}
	return name + "@" + strings.ToLower(tt.String())
}

// addRoutingRules indexes rules. A rule that does not parse is left out
// (ValidateRoutingRules refuses it before it is stored); of two rules for
// one name and type, the last wins.
func (vs *VSchema) addRoutingRules(rules *topodatapb.RoutingRules) {
	for _, r := range rules.GetRules() {
		if len(r.ToTables) == 0 {
			continue
		}
		ksName, tName, ok := strings.Cut(r.ToTables[0], ".")
		if !ok {
			continue
		}
		name, tt, err := SplitRuleFrom(r.FromTable)
		if err != nil {
			continue
		}
		target := ruleTarget{keyspace: ksName, table: tName}
		if tt == topodatapb.TabletType_UNKNOWN {
			vs.rules[name] = target
			continue
		}
		if vs.typedRules == nil {
			vs.typedRules = map[topodatapb.TabletType]map[string]ruleTarget{}
		}
		if vs.typedRules[tt] == nil {
			vs.typedRules[tt] = map[string]ruleTarget{}
		}
		vs.typedRules[tt][name] = target
	}
}

// rule returns the rule for a lower-case name ("table" or
// "keyspace.table") in a session of tablet type tt: that type's own rule,
// else the rule without a type.
func (vs *VSchema) rule(name string, tt topodatapb.TabletType) (ruleTarget, bool) {
	if rt, ok := vs.typedRules[tt][name]; ok {
		return rt, true
	}
	rt, ok := vs.rules[name]
	return rt, ok
}

// planType is the tablet type whose plans a session of type tt shares:
// tt when some rule names it, else PRIMARY (plans do not depend on the
// tablet type otherwise: routes pick their shards when they run).
func (vs *VSchema) planType(tt topodatapb.TabletType) topodatapb.TabletType {
	if len(vs.typedRules[tt]) > 0 {
		return tt
	}
	return topodatapb.TabletType_PRIMARY
}
