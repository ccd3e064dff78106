package proxy

import (
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqltext"
	"github.com/mosaicdb/mosaic/topo"
)

// statusPage is /debug/status: the keyspaces and their serving shards, the
// tablets the health checks see, and the busiest cached plans.
var statusPage = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html><head><title>Mosaic gate</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}td.sql{font-family:monospace}</style>
</head><body>
<h1>Mosaic gate</h1>
<p>cell {{.Cell}}, {{.Connections}} client connections, up {{.Uptime}}</p>
<h2>Keyspaces</h2>
<table><tr><th>keyspace</th><th>sharded</th><th>shards (serving primary)</th><th>replica reads</th><th>error</th></tr>
{{range .Keyspaces}}<tr><td>{{.Name}}</td><td>{{.Sharded}}</td><td>{{range .Shards}}{{.Name}}: {{.Primary}}<br>{{end}}{{if .Switching}}<b>switching: statements held</b>{{end}}</td><td>{{.Reads}}</td><td>{{.Error}}</td></tr>
{{end}}</table>
<h2>Workflows</h2>
<table><tr><th>keyspace</th><th>workflow</th><th>type</th><th>state</th><th>sources</th><th>targets</th><th>traffic switched</th><th>message</th></tr>
{{range .Workflows}}<tr><td>{{.Keyspace}}</td><td>{{.Name}}</td><td>{{.Type}}</td><td>{{.State}}</td><td>{{.Sources}}</td><td>{{.Targets}}</td><td>{{.Switched}}</td><td>{{.Message}}</td></tr>
{{else}}<tr><td colspan="8">none</td></tr>
{{end}}</table>
<h2>Tablets</h2>
<table><tr><th>alias</th><th>keyspace/shard</th><th>type</th><th>serving</th><th>via</th><th>lag</th><th>last seen</th><th>error</th></tr>
{{range .Tablets}}<tr><td>{{.Alias}}</td><td>{{.Target}}</td><td>{{.Type}}</td><td>{{.Serving}}</td><td>{{.Transport}}</td><td>{{.Lag}}s</td><td>{{.Seen}}</td><td>{{.Error}}</td></tr>
{{end}}</table>
<h2>Plan cache</h2>
<p>{{.Cache.Size}} of {{.Cache.Capacity}} plans; {{.Cache.Hits}} text hits, {{.Cache.NormalizedHits}} normalized hits, {{.Cache.Misses}} misses</p>
<h2>Busiest plans</h2>
<table><tr><th>keyspace</th><th>statement</th><th>plan</th><th>executions</th><th>errors</th><th>rows</th><th>total time</th><th>mean</th><th>query</th></tr>
{{range .Plans}}<tr><td>{{.Keyspace}}</td><td>{{.StmtType}}</td><td>{{.Type}}</td><td>{{.Execs}}</td><td>{{.Errors}}</td><td>{{.Rows}}</td><td>{{.Time}}</td><td>{{.Mean}}</td><td class="sql">{{.Query}}</td></tr>
{{else}}<tr><td colspan="9">none yet</td></tr>
{{end}}</table>
<h2>Recent deadlocks</h2>
<p>Transactions of this gate's sessions rolled back as deadlock victims (1213), newest first: across shards (found by the deadlock detector) and on one shard (found by its mysqld).</p>
<table><tr><th>time</th><th>connection</th><th>user</th><th>keyspace</th><th>transaction</th><th>found</th><th>cycle</th></tr>
{{range .Deadlocks}}<tr><td>{{.Time.Format "2006-01-02 15:04:05.000"}}</td><td>{{.ConnID}}</td><td>{{.User}}</td><td>{{.Keyspace}}</td><td>{{.Dtid}}</td><td>{{if .CrossShard}}across shards{{else}}by mysqld{{end}}</td><td class="sql">{{.Cycle}}</td></tr>
{{else}}<tr><td colspan="7">none</td></tr>
{{end}}</table>
</body></html>`))

type statusKeyspace struct {
	Name    string
	Sharded bool
	Shards  []statusShard
	// Reads are the shards serving replica reads; Switching says the
	// keyspace's primary traffic is being switched (switched.go, and tabletgw's switch buffer).
	Reads     string
	Switching bool
	Error     string
}

type statusShard struct{ Name, Primary string }

type statusTablet struct {
	Alias, Target, Type, Seen, Error, Transport string
	Serving                                     bool
	Lag                                         uint32
}

type statusPlan struct {
	Keyspace, StmtType, Type, Query string
	Execs, Errors, Rows             uint64
	Time, Mean                      string
}

// statusPlans is how many of the busiest plans the page shows.
const statusPlans = 20

func (g *Gate) serveStatus(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Cell        string
		Connections int64
		Uptime      string
		Keyspaces   []statusKeyspace
		Workflows   []statusWorkflow
		Tablets     []statusTablet
		Cache       any
		Plans       []statusPlan
		Deadlocks   []DeadlockVictim
	}{Deadlocks: g.RecentDeadlocks(), Cell: g.cfg.Cell, Connections: g.connCount.Load(), Uptime: time.Since(g.started).Round(time.Second).String()}
	vs := g.router.VSchema()
	for _, n := range vs.KeyspaceNames() {
		ks := vs.Keyspaces[n]
		sk := statusKeyspace{Name: n, Sharded: ks.Sharded, Reads: strings.Join(ks.ServedShards(topodatapb.TabletType_REPLICA), ","),
			Switching: g.tablets.Switching(n)}
		for _, sh := range ks.Shards {
			primary := "none serving"
			if th := g.tablets.Choose(n, sh, topodatapb.TabletType_PRIMARY); th != nil {
				primary = th.Alias
			}
			sk.Shards = append(sk.Shards, statusShard{Name: sh, Primary: primary})
		}
		if ks.Error != nil {
			sk.Error = ks.Error.Error()
		}
		data.Keyspaces = append(data.Keyspaces, sk)
	}
	data.Workflows = g.statusWorkflows(r.Context(), vs.KeyspaceNames())
	for _, th := range g.tablets.HealthCheck().All() {
		st := statusTablet{Alias: th.Alias, Serving: th.Serving, Lag: th.ReplicationLag, Error: th.LastError, Transport: th.Transport}
		st.Target = th.Tablet.GetKeyspace() + "/" + th.Tablet.GetShard()
		st.Type = topo.TabletTypeString(th.Tablet.GetType())
		if th.Target != nil {
			st.Type = topo.TabletTypeString(th.Target.TabletType)
		}
		if !th.LastSeen.IsZero() {
			st.Seen = time.Since(th.LastSeen).Round(time.Millisecond).String() + " ago"
		}
		data.Tablets = append(data.Tablets, st)
	}
	data.Cache = g.router.CacheStats()
	plans := g.router.CachedPlans()
	sort.SliceStable(plans, func(i, j int) bool { return plans[i].Execs > plans[j].Execs })
	for _, p := range plans[:min(len(plans), statusPlans)] {
		sp := statusPlan{Keyspace: p.Keyspace, StmtType: p.StmtType, Type: p.Type, Query: abbreviateSQL(p.Query, 300),
			Execs: p.Execs, Errors: p.Errors, Rows: p.Rows, Time: p.Time.Round(time.Microsecond).String()}
		if p.Execs > 0 {
			sp.Mean = (p.Time / time.Duration(p.Execs)).Round(time.Microsecond).String()
		}
		data.Plans = append(data.Plans, sp)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusPage.Execute(w, data); err != nil {
		g.log.Debug("status page", "err", fmt.Sprint(err))
	}
}

// abbreviateSQL shortens a statement to at most n bytes for display,
// without its passwords.
func abbreviateSQL(s string, n int) string {
	s = strings.TrimSpace(sqltext.RedactSecrets(s))
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
