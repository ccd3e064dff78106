package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/router/vindexes"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/tablet/vrepl/workflow"
	"github.com/mosaicdb/mosaic/topo"
)

func newLookupCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "lookup", Short: "create lookup vindexes on tables that have rows, and show them"}
	var o lookupCreate
	create := &cobra.Command{
		Use:   "create",
		Short: "create a lookup table, add its vindex write_only, backfill it with the replication engine (a LOOKUP workflow) while writes go on, then let reads use it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			if o.creds, err = a.tabletCreds(); err != nil {
				return err
			}
			o.ts, o.out = ts, cmd.OutOrStdout()
			o.log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			return o.run(cmd.Context())
		},
	}
	f := create.Flags()
	f.StringVar(&o.keyspace, "keyspace", "", "keyspace of the owner table")
	f.StringVar(&o.table, "table", "", "owner table")
	f.StringVar(&o.column, "column", "", "the column to look rows up by")
	f.StringVar(&o.name, "name", "", "name of the vindex and of the lookup table")
	f.BoolVar(&o.unique, "unique", false, "a value has at most one row (consistent_lookup_unique); default consistent_lookup")
	f.StringVar(&o.lookupKeyspace, "lookup-keyspace", "", "keyspace of the lookup table (default: the owner's)")
	f.DurationVar(&o.settle, "settle", 3*time.Second, "time for every gate to see a VSchema change: reads use the lookup no sooner than this after write_only, and the backfill streams this long after they begin")
	f.DurationVar(&o.timeout, "timeout", time.Hour, "give up on a backfill that has not caught up by then (the vindex stays write_only)")
	for _, n := range []string{"keyspace", "table", "column", "name"} {
		create.MarkFlagRequired(n)
	}
	var showKs, showName string
	show := &cobra.Command{
		Use:   "show",
		Short: "show a keyspace's lookup vindexes: type, table, state, owner rows and lookup entries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			creds, err := a.tabletCreds()
			if err != nil {
				return err
			}
			return showLookups(cmd.Context(), cmd.OutOrStdout(), ts, creds, showKs, showName)
		},
	}
	show.Flags().StringVar(&showKs, "keyspace", "", "keyspace of the owner tables")
	show.Flags().StringVar(&showName, "name", "", "only this vindex")
	show.MarkFlagRequired("keyspace")
	cmd.AddCommand(create, show)
	return cmd
}

// lookupCreate is one `mosaicctl lookup create`.
type lookupCreate struct {
	keyspace, table, column, name, lookupKeyspace string
	unique                                        bool
	settle, timeout                               time.Duration

	ts    *topo.Server
	creds credentials.TransportCredentials
	out   io.Writer
	log   *slog.Logger
}

// primaries returns the primary tablet of each shard serving ks's
// primary traffic, in key-range order, with the shards' ranges.
func primaries(ctx context.Context, ts *topo.Server, ks string) ([]string, []*topodatapb.KeyRange, []*topodatapb.Tablet, error) {
	rec, err := ts.GetKeyspace(ctx, ks)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("keyspace %s: %w", ks, err)
	}
	shards := topo.ServedShards(rec, topodatapb.TabletType_PRIMARY)
	if len(shards) == 0 {
		return nil, nil, nil, fmt.Errorf("keyspace %s has no shard serving primary traffic", ks)
	}
	var krs []*topodatapb.KeyRange
	var tablets []*topodatapb.Tablet
	for _, s := range shards {
		kr, err := keyrange.Parse(s)
		if err != nil {
			return nil, nil, nil, err
		}
		sh, _, err := ts.GetShard(ctx, ks, s)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("shard %s/%s: %w", ks, s, err)
		}
		if sh.PrimaryAlias == nil {
			return nil, nil, nil, fmt.Errorf("shard %s/%s has no primary", ks, s)
		}
		t, err := ts.GetTablet(ctx, sh.PrimaryAlias)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("primary of %s/%s: %w", ks, s, err)
		}
		krs = append(krs, kr)
		tablets = append(tablets, t)
	}
	return shards, krs, tablets, nil
}

// dbaQuery runs sql on a tablet as root and decodes its rows.
func dbaQuery(ctx context.Context, creds credentials.TransportCredentials, t *topodatapb.Tablet, sql string) ([][][]byte, error) {
	c, err := tmclient.DialTablet(t, creds)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	resp, err := c.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: sql, MaxRows: 1 << 20})
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", t.Keyspace, t.Shard, err)
	}
	return decodeAll(resp.Result)
}

func decodeAll(res *querypb.QueryResult) ([][][]byte, error) {
	out := make([][][]byte, 0, len(res.GetRows()))
	for _, raw := range res.GetRows() {
		row, err := sqltypes.DecodeRow(raw, len(res.Fields))
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, nil
}

func ident(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func sqlString(s string) string {
	b, _ := sqltypes.AppendSQL(nil, s)
	return string(b)
}

func (o *lookupCreate) run(ctx context.Context) error {
	if o.lookupKeyspace == "" {
		o.lookupKeyspace = o.keyspace
	}
	if o.settle < 0 || o.timeout <= 0 {
		return errors.New("--settle must not be negative and --timeout must be positive")
	}
	vs, err := o.ts.GetVSchema(ctx, o.keyspace)
	if err != nil {
		return fmt.Errorf("vschema of %s: %w", o.keyspace, err)
	}
	if !vs.Sharded {
		return fmt.Errorf("keyspace %s is unsharded: a lookup vindex finds rows among shards", o.keyspace)
	}
	tbl := vs.Tables[o.table]
	if tbl == nil || len(tbl.ColumnVindexes) == 0 {
		return fmt.Errorf("table %s is not in keyspace %s's VSchema with a primary vindex", o.table, o.keyspace)
	}
	pv := tbl.ColumnVindexes[0]
	pcol := pv.Column
	if pcol == "" && len(pv.Columns) == 1 {
		pcol = pv.Columns[0]
	}
	if strings.EqualFold(pcol, o.column) {
		return fmt.Errorf("column %s is table %s's sharding column: it needs no lookup", o.column, o.table)
	}
	if _, exists := vs.Vindexes[o.name]; exists {
		return fmt.Errorf("keyspace %s already has a vindex %s", o.keyspace, o.name)
	}
	_, _, owners, err := primaries(ctx, o.ts, o.keyspace)
	if err != nil {
		return err
	}
	// The owner's column types and primary key, from its first shard.
	rows, err := dbaQuery(ctx, o.creds, owners[0], "SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = "+sqlString(o.table)+" ORDER BY ORDINAL_POSITION")
	if err != nil {
		return fmt.Errorf("columns of %s: %w", o.table, err)
	}
	types := map[string][2]string{}
	for _, r := range rows {
		types[strings.ToLower(string(r[0]))] = [2]string{string(r[1]), strings.ToLower(string(r[2]))}
	}
	if len(types) == 0 {
		return fmt.Errorf("table %s does not exist on %s/%s", o.table, owners[0].Keyspace, owners[0].Shard)
	}
	colType, ok := types[strings.ToLower(o.column)]
	if !ok {
		return fmt.Errorf("table %s has no column %s", o.table, o.column)
	}
	pType, ok := types[strings.ToLower(pcol)]
	if !ok {
		return fmt.Errorf("table %s has no column %s (its sharding column)", o.table, pcol)
	}
	pkRows, err := dbaQuery(ctx, o.creds, owners[0], "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = "+sqlString(o.table)+" AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION")
	if err != nil {
		return fmt.Errorf("primary key of %s: %w", o.table, err)
	}
	if len(pkRows) == 0 {
		return fmt.Errorf("table %s has no primary key: the backfill copies it in primary-key order", o.table)
	}

	// The lookup table and its VSchema entries.
	lvs := vs
	if o.lookupKeyspace != o.keyspace {
		if lvs, err = o.ts.GetVSchema(ctx, o.lookupKeyspace); err != nil {
			if !errors.Is(err, topo.ErrNoNode) {
				return fmt.Errorf("vschema of %s: %w", o.lookupKeyspace, err)
			}
			lvs = &vschemapb.Keyspace{}
		}
	}
	if lvs.Tables == nil {
		lvs.Tables = map[string]*vschemapb.Table{}
	}
	if _, exists := lvs.Tables[o.name]; exists {
		return fmt.Errorf("keyspace %s already has a table %s in its VSchema", o.lookupKeyspace, o.name)
	}
	lentry := &vschemapb.Table{}
	if lvs.Sharded {
		vtype := "xxhash"
		if strings.Contains(colType[1], "int") {
			vtype = "hash"
		}
		vname := ""
		for _, n := range sortedNames(lvs.Vindexes) {
			if lvs.Vindexes[n].GetType() == vtype {
				vname = n
				break
			}
		}
		if vname == "" {
			vname = vtype
			if _, taken := lvs.Vindexes[vname]; taken {
				return fmt.Errorf("keyspace %s has a vindex named %s of another type", o.lookupKeyspace, vname)
			}
			if lvs.Vindexes == nil {
				lvs.Vindexes = map[string]*vschemapb.Vindex{}
			}
			lvs.Vindexes[vname] = &vschemapb.Vindex{Type: vtype}
		}
		lentry.ColumnVindexes = []*vschemapb.ColumnVindex{{Column: o.column, Name: vname}}
	}
	lvs.Tables[o.name] = lentry
	typ := "consistent_lookup"
	if o.unique {
		typ = "consistent_lookup_unique"
	}
	if vs.Vindexes == nil {
		vs.Vindexes = map[string]*vschemapb.Vindex{}
	}
	vs.Vindexes[o.name] = &vschemapb.Vindex{Type: typ, Owner: o.table, Params: map[string]string{
		"table": o.lookupKeyspace + "." + o.name, "from": o.column, "to": pcol, "write_only": "true",
	}}
	tbl.ColumnVindexes = append(tbl.ColumnVindexes, &vschemapb.ColumnVindex{Column: o.column, Name: o.name})
	if err := router.ValidateKeyspaceVSchema(vs); err != nil {
		return err
	}
	if err := router.ValidateKeyspaceVSchema(lvs); err != nil {
		return err
	}
	_, _, lprims, err := primaries(ctx, o.ts, o.lookupKeyspace)
	if err != nil {
		return err
	}
	key := ident(o.column)
	if !o.unique {
		key += ", " + ident(pcol)
	}
	ddl := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s %s NOT NULL, %s %s NOT NULL, PRIMARY KEY (%s))",
		ident(o.name), ident(o.column), colType[0], ident(pcol), pType[0], key)
	for _, t := range lprims {
		if _, err := dbaQuery(ctx, o.creds, t, ddl); err != nil {
			return fmt.Errorf("create lookup table: %w", err)
		}
	}
	fmt.Fprintf(o.out, "created lookup table %s.%s on %d shard(s)\n", o.lookupKeyspace, o.name, len(lprims))
	if o.lookupKeyspace != o.keyspace {
		if err := o.ts.SaveVSchema(ctx, o.lookupKeyspace, lvs); err != nil {
			return fmt.Errorf("store vschema of %s: %w", o.lookupKeyspace, err)
		}
	}
	if err := o.ts.SaveVSchema(ctx, o.keyspace, vs); err != nil {
		return fmt.Errorf("store vschema of %s: %w", o.keyspace, err)
	}
	fmt.Fprintf(o.out, "vindex %s (%s) added write_only: writes maintain it from now on\n", o.name, typ)

	vtype := ""
	if lvs.Sharded {
		vtype = lvs.Vindexes[lentry.ColumnVindexes[0].Name].Type
	}
	return o.backfill(ctx, vtype, pcol, time.Now())
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleepUntil waits until t or ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	if d := time.Until(t); d > 0 {
		return sleepCtx(ctx, d)
	}
	return ctx.Err()
}

// backfill fills the lookup table with the replication engine (a LOOKUP
// workflow, named as the vindex, in the lookup keyspace) and makes the
// vindex readable once it has caught up; writeOnly is when the vindex was
// stored write_only. The steps, and what each rests on:
//
//  1. The workflow copies the owner's rows from consistent snapshots and
//     follows the owner shards' binlogs: every row committed by any gate,
//     whether or not it knows the vindex, gets its entry once the stream
//     passes its commit. Wait until every stream has copied and lags
//     less than a second.
//  2. Wait until --settle has passed since the vindex became write_only
//     (by then every gate is assumed to maintain the entries itself), read
//     the owner primaries' positions and wait until every stream has
//     applied them: every row written before then has its entry, from the
//     stream or from its gate, and every row written after has its entry
//     from its gate before it commits.
//  3. Restart the streams keeping entries (workflow.KeepLookupEntries):
//     the gates remove entries now, and a stream behind them could remove
//     one a gate has just written for a new row with the same value and
//     sharding value. Then clear write_only: reads use the lookup.
//  4. Keep the streams running for --settle more, read the positions
//     again and wait for them: a gate later than assumed to see the
//     write_only vindex still has its rows' entries filled in (though a
//     read between the row's commit and the stream's apply could miss
//     it). Then delete the workflow.
//
// On an error the workflow is deleted and the vindex stays write_only.
func (o *lookupCreate) backfill(ctx context.Context, vtype, pcol string, writeOnly time.Time) (err error) {
	m := workflow.New(o.ts, o.creds, o.log)
	rule := &vreplicationpb.LookupRule{Table: o.name, From: o.column, To: pcol, OwnerFrom: o.column, OwnerTo: pcol, Unique: o.unique}
	if _, err := m.CreateLookup(ctx, workflow.LookupRequest{
		Workflow: o.name, OwnerKeyspace: o.keyspace, Owner: o.table, LookupKeyspace: o.lookupKeyspace, Rule: rule, VindexType: vtype,
	}); err != nil {
		return fmt.Errorf("create the backfill workflow: %w (the vindex stays write_only)", err)
	}
	fmt.Fprintf(o.out, "workflow %s created in %s: backfilling from %s.%s; `mosaicctl lookup show --keyspace %s --name %s` shows its progress\n", o.name, o.lookupKeyspace, o.keyspace, o.table, o.keyspace, o.name)
	serving := false
	defer func() {
		if err == nil || serving {
			return
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := m.Delete(dctx, o.lookupKeyspace, o.name); derr != nil {
			err = fmt.Errorf("%w; and the workflow could not be deleted (delete it with `mosaicctl reshard cancel`-like tools or etcdctl): %v", err, derr)
		}
		err = fmt.Errorf("backfill: %w (the vindex stays write_only)", err)
	}()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	start := time.Now()
	if err := o.waitCopied(ctx, m); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "backfill copied and caught up in %v\n", time.Since(start).Round(time.Millisecond))
	if err := sleepUntil(ctx, writeOnly.Add(o.settle)); err != nil {
		return err
	}
	pos, err := m.CatchUp(ctx, o.lookupKeyspace, o.name, o.timeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "backfill applied the owner's binlogs up to %v\n", pos)
	if err := m.KeepLookupEntries(ctx, o.lookupKeyspace, o.name, o.timeout); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "backfill streams restarted keeping entries: from now on the gates remove them\n")
	cur, err := o.ts.GetVSchema(ctx, o.keyspace)
	if err != nil {
		return err
	}
	v := cur.Vindexes[o.name]
	if v == nil {
		return fmt.Errorf("vindex %s disappeared from keyspace %s's VSchema during the backfill", o.name, o.keyspace)
	}
	delete(v.Params, "write_only")
	if err := o.ts.SaveVSchema(ctx, o.keyspace, cur); err != nil {
		return fmt.Errorf("store vschema of %s: %w", o.keyspace, err)
	}
	cleared, serving := time.Now(), true
	fmt.Fprintf(o.out, "vindex %s serves reads\n", o.name)
	// From here the vindex serves: a failure no longer puts it back to
	// write_only, but the workflow must still go.
	if err := sleepUntil(ctx, cleared.Add(o.settle)); err == nil {
		if pos, err = m.CatchUp(ctx, o.lookupKeyspace, o.name, o.timeout); err == nil {
			fmt.Fprintf(o.out, "backfill applied the owner's binlogs up to %v, --settle after the vindex began serving\n", pos)
		}
	}
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer dcancel()
	if derr := m.Delete(dctx, o.lookupKeyspace, o.name); derr != nil {
		return fmt.Errorf("vindex %s serves, but its backfill workflow %s in %s could not be deleted: %v", o.name, o.name, o.lookupKeyspace, derr)
	}
	if err != nil {
		fmt.Fprintf(o.out, "warning: the backfill stopped before it caught up past the clearing of write_only: %v\n", err)
	}
	fmt.Fprintf(o.out, "backfill workflow %s deleted\n", o.name)
	return nil
}

// waitCopied waits until every stream of the backfill has copied its rows
// and lags less than a second; a stream that finds two rows with one
// value of a unique lookup, or that stops on another error a retry cannot
// fix (DDL on the owner, schemas that differ), ends it.
func (o *lookupCreate) waitCopied(ctx context.Context, m *workflow.Manager) error {
	last := time.Time{}
	for {
		r, err := m.Show(ctx, o.lookupKeyspace, o.name)
		if err != nil {
			return err
		}
		for _, st := range r.Streams {
			if strings.Contains(st.Message, "not unique") || strings.HasPrefix(st.Message, "stopped: ") {
				return fmt.Errorf("stream %s -> %s: %s", st.SourceShard, st.TargetShard, st.Message)
			}
		}
		ok, why := r.Caught(1)
		if ok {
			return nil
		}
		if time.Since(last) >= 5*time.Second {
			var copied, total int64
			for _, st := range r.Streams {
				copied += st.RowsCopied
				total += max(st.RowsTotal, st.RowsCopied)
			}
			fmt.Fprintf(o.out, "backfill: %d of ~%d rows copied; %s\n", copied, total, why)
			last = time.Now()
		}
		if err := sleepCtx(ctx, 300*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for the backfill (%s): %w", why, err)
		}
	}
}

// showLookups prints the lookup vindexes of keyspace ks.
func showLookups(ctx context.Context, out io.Writer, ts *topo.Server, creds credentials.TransportCredentials, ks, only string) error {
	vs, err := ts.GetVSchema(ctx, ks)
	if err != nil {
		return fmt.Errorf("vschema of %s: %w", ks, err)
	}
	_, _, owners, err := primaries(ctx, ts, ks)
	if err != nil {
		return err
	}
	shown := 0
	for _, name := range sortedNames(vs.Vindexes) {
		v := vs.Vindexes[name]
		if !vindexes.IsLookupType(v.Type) || (only != "" && name != only) {
			continue
		}
		shown++
		vi, err := vindexes.New(v.Type, v.Params)
		if err != nil {
			fmt.Fprintf(out, "%s\t%s\tinvalid: %v\n", name, v.Type, err)
			continue
		}
		l, _ := vindexes.AsLookup(vi)
		state := "serving"
		if l.WriteOnly {
			state = "write_only"
		}
		rowsN, rowsErr := sumCount(ctx, creds, owners, fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s IS NOT NULL", ident(v.Owner), ident(l.From)))
		entries := int64(-1)
		_, _, lprims, err := primaries(ctx, ts, l.Keyspace)
		if err == nil {
			entries, err = sumCount(ctx, creds, lprims, "SELECT COUNT(*) FROM "+ident(l.Table))
		}
		rowsText, entriesText := fmt.Sprint(rowsN), fmt.Sprint(entries)
		if rowsErr != nil {
			rowsText = "? (" + rowsErr.Error() + ")"
		}
		if err != nil {
			entriesText = "? (" + err.Error() + ")"
		}
		fmt.Fprintf(out, "%s\t%s\towner %s.%s(%s)\ttable %s\t%s\towner rows %s\tentries %s\n",
			name, v.Type, ks, v.Owner, l.From, l.TableName(), state, rowsText, entriesText)
		// A backfill under way: its workflow, named as the vindex, in the
		// lookup keyspace.
		if wf, _, err := ts.GetWorkflow(ctx, l.Keyspace, name); err == nil && wf.Type == vreplicationpb.WorkflowType_LOOKUP {
			r, err := workflow.New(ts, creds, slog.New(slog.DiscardHandler)).Show(ctx, l.Keyspace, name)
			if err != nil {
				fmt.Fprintf(out, "backfill of %s: %v\n", name, err)
			} else {
				fmt.Fprintf(out, "backfill of %s: ", name)
				printReport(out, r)
			}
		}
	}
	if shown == 0 {
		if only != "" {
			return fmt.Errorf("keyspace %s has no lookup vindex %s", ks, only)
		}
		fmt.Fprintf(out, "keyspace %s has no lookup vindexes\n", ks)
	}
	return nil
}

func sumCount(ctx context.Context, creds credentials.TransportCredentials, tablets []*topodatapb.Tablet, q string) (int64, error) {
	var n int64
	for _, t := range tablets {
		rows, err := dbaQuery(ctx, creds, t, q)
		if err != nil {
			return 0, err
		}
		if len(rows) == 1 && len(rows[0]) == 1 {
			var c int64
			fmt.Sscan(string(rows[0][0]), &c)
			n += c
		}
	}
	return n, nil
}
