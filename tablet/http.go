package tablet

import (
	"fmt"
	"html/template"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
)

// httpHandler serves /healthz, /debug/status, /metrics and /debug/pprof/.
func (a *Agent) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", a.serveHealthz)
	mux.HandleFunc("/debug/status", a.serveStatus)
	mux.Handle("/metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
	// Profiles: go tool pprof http://<http addr>/debug/pprof/profile
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// serveHealthz answers 200 "serving" when the tablet serves, 200 "alive"
// when mysqld runs but the tablet does not serve (for example a spare),
// and 503 when mysqld is down.
func (a *Agent) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	st, err := a.mysqld.State()
	h := a.lastHealth()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case st != mysqlctl.Running:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ok: mysqld is %v", st)
		if err != nil {
			fmt.Fprintf(w, ": %v", err)
		}
		fmt.Fprintln(w)
	case h.GetServing():
		fmt.Fprintln(w, "ok: serving")
	default:
		fmt.Fprintln(w, "ok: alive, not serving")
	}
}

var statusPage = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html><head><title>tablet {{.Alias}}</title>
<style>body{font-family:sans-serif} td,th{padding:2px 8px;text-align:left}</style></head>
<body><h1>Tablet {{.Alias}}</h1>
<table>
<tr><th>keyspace/shard</th><td>{{.Keyspace}}/{{.Shard}}</td></tr>
<tr><th>type</th><td>{{.Type}}</td></tr>
<tr><th>serving</th><td>{{.Serving}}</td></tr>
<tr><th>health error</th><td>{{.HealthError}}</td></tr>
<tr><th>mysqld</th><td>{{.Mysqld}} (port {{.MySQLPort}}, pid {{.PID}}, starts {{.Starts}})</td></tr>
<tr><th>replication</th><td>{{.Replication}}</td></tr>
<tr><th>query pool</th><td>{{.Pool.InUse}} / {{.Pool.Size}} in use</td></tr>
<tr><th>transaction pool</th><td>{{.Pool.TxInUse}} / {{.Pool.TxSize}} in use, {{.Pool.OpenTx}} open</td></tr>
</table></body></html>
`))

func (a *Agent) serveStatus(w http.ResponseWriter, _ *http.Request) {
	st, err := a.mysqld.State()
	mysqld := st.String()
	if err != nil {
		mysqld += ": " + err.Error()
	}
	h := a.lastHealth()
	a.mu.Lock()
	repl := "none (primary or no source)"
	if a.source != nil {
		repl = fmt.Sprintf("from %s:%d, running %v, lag %ds", a.source.Host, a.source.Port,
			h.GetRealtimeStats().GetReplicationRunning(), h.GetRealtimeStats().GetReplicationLagSeconds())
	}
	tt := a.tabletType
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = statusPage.Execute(w, map[string]any{
		"Alias":       a.aliasString(),
		"Keyspace":    a.cfg.Keyspace,
		"Shard":       a.cfg.Shard,
		"Type":        tt,
		"Serving":     h.GetServing(),
		"HealthError": h.GetRealtimeStats().GetHealthError(),
		"Mysqld":      mysqld,
		"MySQLPort":   a.cfg.MySQLPort,
		"PID":         a.mysqld.PID(),
		"Starts":      a.mysqld.Starts(),
		"Replication": repl,
		"Pool":        a.qs.Stats(),
	})
}
