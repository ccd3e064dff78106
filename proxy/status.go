package proxy

import (
	"html/template"
	"net/http"
	"time"

	"github.com/mosaicdb/mosaic/topo"
)

var statusPage = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html><head><title>Mosaic gate</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}</style>
</head><body>
<h1>Mosaic gate</h1>
<p>cell {{.Cell}}, {{.Connections}} client connections</p>
<h2>Keyspaces</h2>
<table><tr><th>keyspace</th><th>sharded</th><th>serving shards</th><th>error</th></tr>
{{range .Keyspaces}}<tr><td>{{.Name}}</td><td>{{.Sharded}}</td><td>{{.Shards}}</td><td>{{.Error}}</td></tr>
{{end}}</table>
<h2>Tablets</h2>
<table><tr><th>alias</th><th>keyspace/shard</th><th>type</th><th>serving</th><th>lag</th><th>last seen</th><th>error</th></tr>
{{range .Tablets}}<tr><td>{{.Alias}}</td><td>{{.Target}}</td><td>{{.Type}}</td><td>{{.Serving}}</td><td>{{.Lag}}</td><td>{{.Seen}}</td><td>{{.Error}}</td></tr>
{{end}}</table>
</body></html>`))

type statusKeyspace struct {
	Name    string
	Sharded bool
	Shards  []string
	Error   string
}

type statusTablet struct {
	Alias, Target, Type, Seen, Error string
	Serving                          bool
	Lag                              uint32
}

func (g *Gate) serveStatus(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Cell        string
		Connections int64
		Keyspaces   []statusKeyspace
		Tablets     []statusTablet
	}{Cell: g.cfg.Cell, Connections: g.connCount.Load()}
	vs := g.router.VSchema()
	for _, n := range vs.KeyspaceNames() {
		ks := vs.Keyspaces[n]
		sk := statusKeyspace{Name: n, Sharded: ks.Sharded, Shards: ks.Shards}
		if ks.Error != nil {
			sk.Error = ks.Error.Error()
		}
		data.Keyspaces = append(data.Keyspaces, sk)
	}
	for _, th := range g.hc.All() {
		st := statusTablet{Alias: th.Alias, Serving: th.Serving, Lag: th.ReplicationLag, Error: th.LastError}
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
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	statusPage.Execute(w, data)
}
