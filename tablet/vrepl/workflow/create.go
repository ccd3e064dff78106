package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
	"github.com/mosaicdb/mosaic/router/vindexes"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/tablet/vrepl"
	"github.com/mosaicdb/mosaic/topo"
)

// ReshardRequest asks for a workflow that moves a keyspace's rows from
// its source shards to its target shards.
type ReshardRequest struct {
	Keyspace     string
	Workflow     string
	SourceShards []string
	TargetShards []string
}

// ErrExists says a workflow of that name exists in the keyspace.
var ErrExists = errors.New("workflow exists")

// CreateReshard checks req, creates the tables on the target shards (from
// a source primary's definitions) and writes the workflow record; the
// target primaries then start copying. It refuses, changing nothing, when
// the shard sets overlap, leave gaps or cover different ranges, when a
// target shard serves or has no primary, when a table has no primary
// vindex (or is a sequence) in the VSchema, when a key type cannot be
// ordered, or when a target table already holds rows.
func (m *Manager) CreateReshard(ctx context.Context, req ReshardRequest) (*vreplicationpb.Workflow, error) {
	if err := topo.ValidateName(req.Workflow); err != nil {
		return nil, fmt.Errorf("workflow: %w", err)
	}
	if err := m.checkNewWorkflow(ctx, req.Keyspace, req.Workflow); err != nil {
		return nil, err
	}
	srcRange, err := checkTiling("source", req.SourceShards)
	if err != nil {
		return nil, err
	}
	dstRange, err := checkTiling("target", req.TargetShards)
	if err != nil {
		return nil, err
	}
	if !keyrange.Equal(srcRange, dstRange) {
		return nil, fmt.Errorf("the source shards cover %s and the target shards %s: they must cover the same range", keyrange.String(srcRange), keyrange.String(dstRange))
	}
	for _, s := range req.SourceShards {
		if slices.Contains(req.TargetShards, s) {
			return nil, fmt.Errorf("shard %s is both a source and a target", s)
		}
	}
	vs, err := m.ts.GetVSchema(ctx, req.Keyspace)
	if err != nil {
		return nil, fmt.Errorf("keyspace %s needs a VSchema that shards it: %w", req.Keyspace, err)
	}
	if !vs.Sharded {
		return nil, fmt.Errorf("the VSchema of %s is not sharded: apply a sharded VSchema (with a vindex for every table) before resharding", req.Keyspace)
	}
	ksRec, _, err := m.ts.GetKeyspaceVersion(ctx, req.Keyspace)
	if err != nil {
		return nil, err
	}
	for _, s := range req.SourceShards {
		if !slices.Contains(topo.ServedShards(ksRec, topodatapb.TabletType_PRIMARY), s) {
			return nil, fmt.Errorf("source shard %s/%s does not serve primary traffic: a reshard copies from the shards that serve it", req.Keyspace, s)
		}
		if _, err := m.primary(ctx, req.Keyspace, s); err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
	}
	for _, s := range req.TargetShards {
		if _, _, err := m.ts.GetShard(ctx, req.Keyspace, s); err != nil {
			return nil, fmt.Errorf("target shard %s/%s does not exist: create it first: %w", req.Keyspace, s, err)
		}
		if types := topo.ServedTypesOf(ksRec, s); len(types) > 0 {
			return nil, fmt.Errorf("target shard %s/%s serves %s traffic: a reshard copies into shards that do not serve yet", req.Keyspace, s, typeList(types))
		}
		if _, err := m.primary(ctx, req.Keyspace, s); err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
	}
	src, _, err := m.dialPrimary(ctx, req.Keyspace, req.SourceShards[0])
	if err != nil {
		return nil, err
	}
	defer src.Close()
	db, err := dbName(ctx, src)
	if err != nil {
		return nil, err
	}
	names, err := listTables(ctx, src)
	if err != nil {
		return nil, err
	}
	rules, err := tableRules(vs, names)
	if err != nil {
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
	targets := map[string]map[string]existing{}
	for _, s := range req.TargetShards {
		c, _, err := m.dialPrimary(ctx, req.Keyspace, s)
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
				return nil, fmt.Errorf("table %s on target shard %s already holds rows: a reshard copies into empty tables", n, s)
			}
		}
		targets[s] = ex
	}
	for _, s := range req.TargetShards {
		c, _, err := m.dialPrimary(ctx, req.Keyspace, s)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if targets[s][n].exists {
				continue
			}
			if _, err := c.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: ddl[n]}); err != nil {
				c.Close()
				return nil, fmt.Errorf("create %s on target %s: %w", n, s, err)
			}
		}
		c.Close()
	}
	wf := &vreplicationpb.Workflow{
		Name:            req.Workflow,
		Type:            vreplicationpb.WorkflowType_RESHARD,
		SourceKeyspace:  req.Keyspace,
		TargetKeyspace:  req.Keyspace,
		SourceShards:    req.SourceShards,
		TargetShards:    req.TargetShards,
		Tables:          rules,
		State:           vreplicationpb.WorkflowState_RUNNING,
		CreatedUnixNano: time.Now().UnixNano(),
	}
	if err := m.ts.CreateWorkflow(ctx, req.Keyspace, wf); err != nil {
		if errors.Is(err, topo.ErrNodeExists) {
			return nil, fmt.Errorf("%w: %s in keyspace %s", ErrExists, req.Workflow, req.Keyspace)
		}
		return nil, err
	}
	m.Log.Info("workflow created", "keyspace", req.Keyspace, "workflow", req.Workflow, "sources", req.SourceShards, "targets", req.TargetShards, "tables", len(rules))
	return wf, nil
}

// dbName is the database a tablet keeps its keyspace's tables in.
func dbName(ctx context.Context, c *tmclient.Client) (string, error) {
	res, err := dbaExecutor{ctx, c}.Execute("SELECT DATABASE() AS db", 1)
	if err != nil {
		return "", err
	}
	rows, err := mysqlconn.NamedRows(res)
	if err != nil || len(rows) != 1 {
		return "", fmt.Errorf("database of the source: %v", err)
	}
	return rows[0]["db"], nil
}

// listTables lists the base tables of the tablet's keyspace database.
func listTables(ctx context.Context, c *tmclient.Client) ([]string, error) {
	res, err := dbaExecutor{ctx, c}.Execute("SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", 0)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	rows, err := mysqlconn.NamedRows(res)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rows {
		out = append(out, r["t"])
	}
	if len(out) == 0 {
		return nil, errors.New("the source has no tables to copy")
	}
	return out, nil
}

// tableRules says how each table is copied, from the VSchema.
func tableRules(vs *vschemapb.Keyspace, names []string) ([]*vreplicationpb.TableRule, error) {
	lower := map[string]*vschemapb.Table{}
	for n, t := range vs.Tables {
		lower[strings.ToLower(n)] = t
	}
	var rules []*vreplicationpb.TableRule
	var problems []string
	for _, n := range names {
		t, ok := lower[strings.ToLower(n)]
		if !ok {
			problems = append(problems, fmt.Sprintf("table %s is not in the VSchema: add it with a vindex (or as a reference table)", n))
			continue
		}
		if t == nil {
			t = &vschemapb.Table{}
		}
		r := &vreplicationpb.TableRule{Name: n}
		switch {
		case t.Type == "sequence":
			problems = append(problems, fmt.Sprintf("table %s is a sequence: sequences live in an unsharded keyspace; move it there first", n))
			continue
		case t.Type == "reference":
			r.Reference = true
		case t.Pinned != "":
			ksid, err := decodeHex(t.Pinned)
			if err != nil {
				problems = append(problems, fmt.Sprintf("table %s: pinned %q is not hex", n, t.Pinned))
				continue
			}
			r.Pinned = ksid
		case len(t.ColumnVindexes) == 0:
			problems = append(problems, fmt.Sprintf("table %s has no primary vindex in the VSchema", n))
			continue
		default:
			cv := t.ColumnVindexes[0]
			col := cv.Column
			if col == "" && len(cv.Columns) > 0 {
				col = cv.Columns[0]
			}
			v := vs.Vindexes[cv.Name]
			if v == nil {
				problems = append(problems, fmt.Sprintf("table %s: vindex %s is not defined", n, cv.Name))
				continue
			}
			if _, err := vindexes.New(v.Type, v.Params); err != nil {
				problems = append(problems, fmt.Sprintf("table %s: primary vindex %s: %v", n, cv.Name, err))
				continue
			}
			r.VindexType, r.VindexColumn = v.Type, col
		}
		rules = append(rules, r)
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return rules, nil
}

func decodeHex(s string) ([]byte, error) {
	b := make([]byte, len(s)/2)
	if len(s)%2 != 0 {
		return nil, errors.New("odd length")
	}
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			case c >= 'a' && c <= 'f':
				v |= byte(c - 'a' + 10)
			case c >= 'A' && c <= 'F':
				v |= byte(c - 'A' + 10)
			default:
				return nil, errors.New("not hex")
			}
		}
		b[i] = v
	}
	return b, nil
}

// existing says whether a target table exists and holds rows.
type existing struct{ exists, rows bool }

func targetTables(ctx context.Context, c *tmclient.Client, names []string) (map[string]existing, error) {
	ex := dbaExecutor{ctx, c}
	out := map[string]existing{}
	res, err := ex.Execute("SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()", 0)
	if err != nil {
		return nil, err
	}
	rows, err := mysqlconn.NamedRows(res)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, r := range rows {
		have[strings.ToLower(r["t"])] = true
	}
	for _, n := range names {
		e := existing{exists: have[strings.ToLower(n)]}
		if e.exists {
			res, err := ex.Execute("SELECT 1 FROM "+quoteIdent(n)+" LIMIT 1", 1)
			if err != nil {
				return nil, err
			}
			e.rows = len(res.Rows) > 0
		}
		out[n] = e
	}
	return out, nil
}
