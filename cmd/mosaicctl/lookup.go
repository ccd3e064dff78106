package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/router/vindexes"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

func newLookupCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "lookup", Short: "create lookup vindexes on tables that have rows, and show them"}
	var o lookupCreate
	create := &cobra.Command{
		Use:   "create",
		Short: "create a lookup table, add its vindex write_only, backfill it from the existing rows, then let reads use it",
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
	f.DurationVar(&o.settle, "settle", 3*time.Second, "time for every gate to see a VSchema change")
	f.IntVar(&o.batch, "batch", 1000, "rows read per batch")
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
	settle                                        time.Duration
	batch                                         int

	ts    *topo.Server
	creds credentials.TransportCredentials
	out   io.Writer
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
	if o.batch < 1 {
		return errors.New("--batch must be at least 1")
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
	var pk []string
	for _, r := range pkRows {
		pk = append(pk, string(r[0]))
	}
	if len(pk) == 0 {
		return fmt.Errorf("table %s has no primary key: the backfill reads it in primary-key order", o.table)
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
	lshards, lranges, lprims, err := primaries(ctx, o.ts, o.lookupKeyspace)
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

	var lvindex vindexes.Vindex
	if lvs.Sharded {
		if lvindex, err = vindexes.New(lvs.Vindexes[lentry.ColumnVindexes[0].Name].Type, nil); err != nil {
			return err
		}
	}
	bf := &backfill{o: o, pcol: pcol, pk: pk, lshards: lshards, lranges: lranges, lprims: lprims, lvindex: lvindex}
	for pass := 1; pass <= 2; pass++ {
		if err := sleepCtx(ctx, o.settle); err != nil {
			return err
		}
		start := time.Now()
		n, err := bf.pass(ctx, owners)
		if err != nil {
			return fmt.Errorf("backfill pass %d: %w (the vindex stays write_only)", pass, err)
		}
		fmt.Fprintf(o.out, "backfill pass %d: %d rows in %v\n", pass, n, time.Since(start).Round(time.Millisecond))
	}
	// Reads may use it now.
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
	fmt.Fprintf(o.out, "vindex %s serves reads\n", o.name)
	return nil
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

// backfill writes the entries of the owner's existing rows.
type backfill struct {
	o       *lookupCreate
	pcol    string
	pk      []string
	lshards []string
	lranges []*topodatapb.KeyRange
	lprims  []*topodatapb.Tablet
	// lvindex maps a value to the lookup shard; nil when the lookup
	// keyspace is unsharded.
	lvindex vindexes.Vindex
}

// pass reads every owner shard in primary-key order and writes the
// entries of its rows; it returns the rows read.
func (b *backfill) pass(ctx context.Context, owners []*topodatapb.Tablet) (int, error) {
	o := b.o
	total := 0
	cols := ident(o.column) + ", " + ident(b.pcol)
	var pkList []string
	for _, c := range b.pk {
		pkList = append(pkList, ident(c))
	}
	pkCols := strings.Join(pkList, ", ")
	for _, t := range owners {
		var last [][]byte
		for {
			where := ""
			if last != nil {
				var vals []string
				for _, v := range last {
					vals = append(vals, sqlString(string(v)))
				}
				where = fmt.Sprintf(" WHERE (%s) > (%s)", pkCols, strings.Join(vals, ", "))
			}
			q := fmt.Sprintf("SELECT %s, %s FROM %s%s ORDER BY %s LIMIT %d", cols, pkCols, ident(o.table), where, pkCols, o.batch)
			rows, err := dbaQuery(ctx, o.creds, t, q)
			if err != nil {
				return total, err
			}
			if len(rows) == 0 {
				break
			}
			if err := b.write(ctx, rows); err != nil {
				return total, err
			}
			total += len(rows)
			last = rows[len(rows)-1][2:]
			if len(rows) < o.batch {
				break
			}
		}
	}
	return total, nil
}

// write inserts the entries of rows (from, to, pk...) on their lookup
// shards; a unique lookup refuses a value two rows have.
func (b *backfill) write(ctx context.Context, rows [][][]byte) error {
	o := b.o
	by := map[int][][2][]byte{}
	for _, r := range rows {
		if r[0] == nil || r[1] == nil {
			continue
		}
		i := 0
		if b.lvindex != nil {
			ksid, ok := b.lvindex.Map(string(r[0]))
			if !ok {
				return fmt.Errorf("value %q of %s cannot be mapped to a lookup shard", r[0], o.column)
			}
			i = slices.IndexFunc(b.lranges, func(kr *topodatapb.KeyRange) bool { return keyrange.Contains(kr, ksid) })
			if i < 0 {
				return fmt.Errorf("no shard of %s holds keyspace id %x", o.lookupKeyspace, ksid)
			}
		}
		by[i] = append(by[i], [2][]byte{r[0], r[1]})
	}
	for i, entries := range by {
		var vals, froms []string
		for _, e := range entries {
			vals = append(vals, "("+sqlString(string(e[0]))+", "+sqlString(string(e[1]))+")")
			froms = append(froms, sqlString(string(e[0])))
		}
		q := fmt.Sprintf("INSERT INTO %s (%s, %s) VALUES %s ON DUPLICATE KEY UPDATE %s = %s",
			ident(o.name), ident(o.column), ident(b.pcol), strings.Join(vals, ", "), ident(b.pcol), ident(b.pcol))
		if _, err := dbaQuery(ctx, o.creds, b.lprims[i], q); err != nil {
			return fmt.Errorf("write entries on %s/%s: %w", o.lookupKeyspace, b.lshards[i], err)
		}
		if !o.unique {
			continue
		}
		got, err := dbaQuery(ctx, o.creds, b.lprims[i], fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s IN (%s)",
			ident(o.column), ident(b.pcol), ident(o.name), ident(o.column), strings.Join(froms, ", ")))
		if err != nil {
			return err
		}
		want := map[string]string{}
		for _, e := range entries {
			want[string(e[0])] = string(e[1])
		}
		for _, g := range got {
			if w, ok := want[string(g[0])]; ok && w != string(g[1]) {
				return fmt.Errorf("value %s of %s.%s is in rows with %s %s and %s: not unique", g[0], o.table, o.column, b.pcol, w, g[1])
			}
		}
	}
	return nil
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
