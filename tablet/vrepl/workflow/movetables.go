package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/vrepl"
	"github.com/mosaicdb/mosaic/topo"
)

// Table moves (MoveTables).
//
// A MOVE_TABLES workflow copies some tables of a source keyspace into a
// target keyspace with the same streams as a reshard: one per (source
// shard, target shard) pair whose ranges meet, each keeping the rows
// whose keyspace id, by the table's primary vindex in the target's
// VSchema, falls in its target shard's range. Which keyspace serves the
// tables is said by the routing rules in topo, not by the serving graph:
// from create until the switch, "t", "source.t" and "target.t" all route
// to source.t; the switch rewrites them to target.t in the same commit
// that ends its fence; complete or cancel removes them. See
// docs/movetables.md.

// MoveTablesRequest asks for a workflow that moves tables from one
// keyspace to another.
type MoveTablesRequest struct {
	Workflow       string
	SourceKeyspace string
	TargetKeyspace string
	// Tables to move; AllTables moves every base table of the source.
	Tables    []string
	AllTables bool
}

// CreateMoveTables checks req, creates the tables on every target shard
// (from the source primary's definitions), and writes the workflow record
// with routing rules that keep every statement for the tables on the
// source, in one commit; the target primaries then start copying. It
// refuses, changing nothing, when a keyspace is missing, a table is not
// in the source, has no primary vindex in a sharded target's VSchema, is
// already routed by a rule, or already holds rows on a target.
func (m *Manager) CreateMoveTables(ctx context.Context, req MoveTablesRequest) (*vreplicationpb.Workflow, error) {
	if err := topo.ValidateName(req.Workflow); err != nil {
		return nil, fmt.Errorf("workflow: %w", err)
	}
	if req.SourceKeyspace == "" || req.TargetKeyspace == "" {
		return nil, errors.New("both a source and a target keyspace are needed")
	}
	if req.SourceKeyspace == req.TargetKeyspace {
		return nil, fmt.Errorf("source and target keyspace are both %s: a table move goes to another keyspace (reshard changes a keyspace's shards)", req.SourceKeyspace)
	}
	if req.AllTables == (len(req.Tables) > 0) {
		return nil, errors.New("name the tables to move, or ask for all tables (not both)")
	}
	if err := m.checkNewWorkflow(ctx, req.TargetKeyspace, req.Workflow); err != nil {
		return nil, err
	}
	srcKs, _, err := m.ts.GetKeyspaceVersion(ctx, req.SourceKeyspace)
	if err != nil {
		return nil, fmt.Errorf("source keyspace: %w", err)
	}
	dstKs, _, err := m.ts.GetKeyspaceVersion(ctx, req.TargetKeyspace)
	if err != nil {
		return nil, fmt.Errorf("target keyspace: %w", err)
	}
	if srcKs.GetSwitching() != nil || dstKs.GetSwitching() != nil {
		return nil, errors.New("a traffic switch is under way in the source or the target keyspace: wait for it")
	}
	sources := topo.ServedShards(srcKs, topodatapb.TabletType_PRIMARY)
	targets := topo.ServedShards(dstKs, topodatapb.TabletType_PRIMARY)
	if len(sources) == 0 || len(targets) == 0 {
		return nil, fmt.Errorf("source %s serves %v and target %s serves %v: both keyspaces need shards serving primary traffic", req.SourceKeyspace, sources, req.TargetKeyspace, targets)
	}
	for _, s := range sources {
		if _, err := m.primary(ctx, req.SourceKeyspace, s); err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
	}
	for _, s := range targets {
		if _, err := m.primary(ctx, req.TargetKeyspace, s); err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
	}
	src, _, err := m.dialPrimary(ctx, req.SourceKeyspace, sources[0])
	if err != nil {
		return nil, err
	}
	defer src.Close()
	db, err := dbName(ctx, src)
	if err != nil {
		return nil, err
	}
	have, err := listTables(ctx, src)
	if err != nil {
		return nil, err
	}
	names, err := pickTables(have, req.Tables, req.AllTables)
	if err != nil {
		return nil, fmt.Errorf("source keyspace %s: %w", req.SourceKeyspace, err)
	}
	vs, err := m.ts.GetVSchema(ctx, req.TargetKeyspace)
	if errors.Is(err, topo.ErrNoNode) {
		vs = &vschemapb.Keyspace{}
	} else if err != nil {
		return nil, err
	}
	rules, err := moveRules(vs, names, len(targets))
	if err != nil {
		return nil, fmt.Errorf("target keyspace %s: %w", req.TargetKeyspace, err)
	}
	// The reverse streams, made at the switch, place rows by the source's
	// VSchema: it must be able to.
	srcVS, err := m.ts.GetVSchema(ctx, req.SourceKeyspace)
	if errors.Is(err, topo.ErrNoNode) {
		srcVS = &vschemapb.Keyspace{}
	} else if err != nil {
		return nil, err
	}
	if _, err := moveRules(srcVS, names, len(sources)); err != nil {
		return nil, fmt.Errorf("source keyspace %s (the reverse streams place rows by its VSchema): %w", req.SourceKeyspace, err)
	}
	rr, rrv, err := m.ts.GetRoutingRulesVersion(ctx)
	if err != nil {
		return nil, err
	}
	if err := rulesConflict(rr, names, req.SourceKeyspace, req.TargetKeyspace); err != nil {
		return nil, err
	}
	if err := vrepl.CheckTables(dbaExecutor{ctx, src}, db, names); err != nil {
		return nil, err
	}
	ddl := map[string]string{}
	for _, n := range names {
		res, err := dbaExecutor{ctx, src}.Execute("SHOW CREATE TABLE "+quoteIdent(n), 1)
		if err != nil {
			return nil, fmt.Errorf("definition of %s: %w", n, err)
		}
		row, err := mysqlconn.RowValues(res.Rows[0], len(res.Fields))
		if err != nil {
			return nil, err
		}
		ddl[n] = string(row[1])
	}
	// Every target must be empty of these tables' rows before anything
	// changes.
	exists := map[string]map[string]existing{}
	for _, s := range targets {
		c, _, err := m.dialPrimary(ctx, req.TargetKeyspace, s)
		if err != nil {
			return nil, err
		}
		ex, err := targetTables(ctx, c, names)
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", s, err)
		}
		for _, n := range names {
			if ex[n].rows {
				return nil, fmt.Errorf("table %s on target shard %s/%s already holds rows: a table move copies into empty tables", n, req.TargetKeyspace, s)
			}
		}
		exists[s] = ex
	}
	for _, s := range targets {
		c, _, err := m.dialPrimary(ctx, req.TargetKeyspace, s)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if exists[s][n].exists {
				continue
			}
			if _, err := c.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: ddl[n]}); err != nil {
				c.Close()
				return nil, fmt.Errorf("create %s on target %s/%s: %w", n, req.TargetKeyspace, s, err)
			}
		}
		c.Close()
	}
	wf := &vreplicationpb.Workflow{
		Name:            req.Workflow,
		Type:            vreplicationpb.WorkflowType_MOVE_TABLES,
		SourceKeyspace:  req.SourceKeyspace,
		TargetKeyspace:  req.TargetKeyspace,
		SourceShards:    sources,
		TargetShards:    targets,
		Tables:          rules,
		State:           vreplicationpb.WorkflowState_RUNNING,
		CreatedUnixNano: time.Now().UnixNano(),
	}
	wop, err := topo.WorkflowOp(req.TargetKeyspace, wf, 0)
	if err != nil {
		return nil, err
	}
	rop, err := topo.RoutingRulesOp(routeTables(rr, names, req.SourceKeyspace, req.TargetKeyspace, req.SourceKeyspace), rrv)
	if err != nil {
		return nil, err
	}
	if _, err := m.ts.Store().Commit(ctx, []topo.Op{wop, rop}); err != nil {
		if errors.Is(err, topo.ErrNodeExists) || errors.Is(err, topo.ErrBadVersion) {
			return nil, fmt.Errorf("the workflow record or the routing rules changed meanwhile (run it again): %w", err)
		}
		return nil, fmt.Errorf("write workflow %s and its routing rules: %w", req.Workflow, err)
	}
	m.Log.Info("table move created", "workflow", req.Workflow, "source", req.SourceKeyspace, "target", req.TargetKeyspace, "tables", names, "sources", sources, "targets", targets)
	return wf, nil
}

// pickTables returns the tables to move, by the source's spelling: every
// one of have when all, else those of asked, each of which must exist.
func pickTables(have, asked []string, all bool) ([]string, error) {
	if all {
		return slices.Clone(have), nil
	}
	byLower := map[string]string{}
	for _, h := range have {
		byLower[strings.ToLower(h)] = h
	}
	var out, missing []string
	for _, a := range asked {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		n, ok := byLower[strings.ToLower(a)]
		switch {
		case !ok:
			missing = append(missing, a)
		case !slices.Contains(out, n):
			out = append(out, n)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no table %s", strings.Join(missing, ", "))
	}
	if len(out) == 0 {
		return nil, errors.New("no tables named")
	}
	return out, nil
}

// moveRules says how each table is copied into a target keyspace of
// nTargets shards with VSchema vs: by its primary vindex when vs is
// sharded (a table without one is refused, named), whole when the target
// is unsharded.
func moveRules(vs *vschemapb.Keyspace, names []string, nTargets int) ([]*vreplicationpb.TableRule, error) {
	if !vs.GetSharded() {
		if nTargets > 1 {
			return nil, fmt.Errorf("its VSchema is not sharded but it has %d shards", nTargets)
		}
		var rules []*vreplicationpb.TableRule
		for _, n := range names {
			rules = append(rules, &vreplicationpb.TableRule{Name: n})
		}
		return rules, nil
	}
	return tableRules(vs, names)
}

// ruleNames are the names a rule redirects for table t of a move from
// source to target: "t", "source.t" and "target.t", lower case. A rule
// of one of these names applies to every tablet type that has no rule of
// its own (typedName).
func ruleNames(t, source, target string) []string {
	t = strings.ToLower(t)
	return []string{t, strings.ToLower(source) + "." + t, strings.ToLower(target) + "." + t}
}

// readTypes are the tablet types that may have routing rules of their
// own: a rule from "t@replica" applies to sessions of replica tablets
// (router's routingrules.go). The primary's rule has no type.
var readTypes = []topodatapb.TabletType{topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY}

// typedName is the name of tt's own rule for name n: "n@replica".
func typedName(n string, tt topodatapb.TabletType) string {
	return n + "@" + topo.TabletTypeString(tt)
}

// allRuleNames are ruleNames with their typed names: every rule a move
// may write for t.
func allRuleNames(t, source, target string) []string {
	var out []string
	for _, n := range ruleNames(t, source, target) {
		out = append(out, n)
		for _, tt := range readTypes {
			out = append(out, typedName(n, tt))
		}
	}
	return out
}

// rulesConflict refuses tables that a routing rule redirects already (the
// move of another workflow, or a rule applied by hand), for any tablet
// type.
func rulesConflict(rr *topodatapb.RoutingRules, tables []string, source, target string) error {
	var taken []string
	for _, t := range tables {
		for _, n := range allRuleNames(t, source, target) {
			for _, r := range rr.GetRules() {
				if strings.EqualFold(r.FromTable, n) {
					taken = append(taken, fmt.Sprintf("%s -> %s", r.FromTable, strings.Join(r.ToTables, ",")))
				}
			}
		}
	}
	if len(taken) > 0 {
		return fmt.Errorf("routing rules redirect these tables already (another move, or rules applied by hand): %s; remove them with `mosaicctl routing-rules apply` first", strings.Join(taken, "; "))
	}
	return nil
}

// routeTables returns a copy of rr in which every name of tables (see
// ruleNames) routes to keyspace to, for every tablet type; other rules
// stay as they are, in their order, and the new ones follow.
func routeTables(rr *topodatapb.RoutingRules, tables []string, source, target, to string) *topodatapb.RoutingRules {
	out := unrouteTables(rr, tables, source, target)
	for _, t := range tables {
		for _, n := range ruleNames(t, source, target) {
			out.Rules = append(out.Rules, &topodatapb.RoutingRule{FromTable: n, ToTables: []string{to + "." + t}})
		}
	}
	return out
}

// routeTypes returns a copy of rr in which tables route, for each tablet
// type, to target when switched holds the type and to source otherwise:
// the rules without a type carry the primary's keyspace, and a read type
// that goes elsewhere gets rules of its own ("t@replica"). When every
// type goes one way there are no typed rules (routeTables).
func routeTypes(rr *topodatapb.RoutingRules, tables []string, source, target string, switched []topodatapb.TabletType) *topodatapb.RoutingRules {
	where := func(tt topodatapb.TabletType) string {
		if slices.Contains(switched, tt) {
			return target
		}
		return source
	}
	primary := where(topodatapb.TabletType_PRIMARY)
	out := routeTables(rr, tables, source, target, primary)
	for _, tt := range readTypes {
		ks := where(tt)
		if ks == primary {
			continue
		}
		for _, t := range tables {
			for _, n := range ruleNames(t, source, target) {
				out.Rules = append(out.Rules, &topodatapb.RoutingRule{FromTable: typedName(n, tt), ToTables: []string{ks + "." + t}})
			}
		}
	}
	return out
}

// unrouteTables returns a copy of rr without the rules of tables, of
// every tablet type.
func unrouteTables(rr *topodatapb.RoutingRules, tables []string, source, target string) *topodatapb.RoutingRules {
	drop := map[string]bool{}
	for _, t := range tables {
		for _, n := range allRuleNames(t, source, target) {
			drop[n] = true
		}
	}
	out := &topodatapb.RoutingRules{}
	for _, r := range rr.GetRules() {
		if !drop[strings.ToLower(r.FromTable)] {
			out.Rules = append(out.Rules, &topodatapb.RoutingRule{FromTable: r.FromTable, ToTables: slices.Clone(r.ToTables)})
		}
	}
	return out
}

// routedTo returns the keyspace that rr routes table t of a move to for
// primary sessions (the rules without a type), or "" when no rule or
// rules that disagree.
func routedTo(rr *topodatapb.RoutingRules, t, source, target string) string {
	return routedToType(rr, t, source, target, topodatapb.TabletType_PRIMARY)
}

// routedToType returns the keyspace that rr routes table t of a move to
// for sessions of tablet type tt: by tt's own rule where there is one,
// else by the rule without a type, as the gates resolve them. "" when a
// name has no rule or the names disagree.
func routedToType(rr *topodatapb.RoutingRules, t, source, target string, tt topodatapb.TabletType) string {
	find := func(n string) string {
		found := ""
		for _, r := range rr.GetRules() {
			if strings.EqualFold(r.FromTable, n) && len(r.ToTables) > 0 {
				found, _, _ = strings.Cut(r.ToTables[0], ".")
			}
		}
		return found
	}
	ks := ""
	for _, n := range ruleNames(t, source, target) {
		found := ""
		if slices.Contains(readTypes, tt) {
			found = find(typedName(n, tt))
		}
		if found == "" {
			found = find(n)
		}
		if found == "" || ks != "" && found != ks {
			return ""
		}
		ks = found
	}
	return ks
}

// checkRoutes refuses when rr does not route wf's tables as wf's record
// says, for some tablet type: to the target for its switched types, to
// the source for the others (rules changed by hand).
func checkRoutes(rr *topodatapb.RoutingRules, wf *vreplicationpb.Workflow) error {
	for _, t := range tableNames(wf) {
		for _, tt := range allTypes {
			want := wf.SourceKeyspace
			if slices.Contains(wf.SwitchedTypes, tt) {
				want = wf.TargetKeyspace
			}
			if ks := routedToType(rr, t, wf.SourceKeyspace, wf.TargetKeyspace, tt); ks != want {
				return fmt.Errorf("workflow %s: the routing rules send the %s traffic of table %s to %q, not to %s as the workflow record says: fix them with `mosaicctl routing-rules apply`; nothing changed", wf.Name, topo.TabletTypeString(tt), t, ks, want)
			}
		}
	}
	return nil
}

func tableNames(wf *vreplicationpb.Workflow) []string {
	var out []string
	for _, t := range wf.Tables {
		out = append(out, t.Name)
	}
	return out
}
