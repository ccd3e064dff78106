package tablet

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/sqltext"
	"github.com/mosaicdb/mosaic/tablet/queryservice"
	"github.com/mosaicdb/mosaic/topo"
)

// statusPage is /debug/status: the tablet, its mysqld, replication, the
// pools and the statements running on mysqld.
var statusPage = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html><head><title>tablet {{.Alias}}</title>
<style>body{font-family:sans-serif} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:2px 8px;text-align:left} td.sql{font-family:monospace}</style></head>
<body><h1>Tablet {{.Alias}}</h1>
<h2>Tablet</h2>
<table>
<tr><th>keyspace/shard</th><td>{{.Keyspace}}/{{.Shard}}</td></tr>
<tr><th>type</th><td>{{.Type}}</td></tr>
<tr><th>serving</th><td>{{.Serving}}</td></tr>
<tr><th>health error</th><td>{{.HealthError}}</td></tr>
<tr><th>queries per second</th><td>{{printf "%.1f" .QPS}}</td></tr>
</table>
<h2>mysqld</h2>
<table>
<tr><th>state</th><td>{{.Mysqld}}</td></tr>
<tr><th>answers</th><td>{{.Answers}}</td></tr>
<tr><th>port</th><td>{{.MySQLPort}}</td></tr>
<tr><th>pid</th><td>{{.PID}}</td></tr>
<tr><th>starts</th><td>{{.Starts}}</td></tr>
</table>
<h2>Replication</h2>
<table>
<tr><th>source</th><td>{{.Source}}</td></tr>
<tr><th>running</th><td>{{.ReplicationRunning}}</td></tr>
<tr><th>lag</th><td>{{.Lag}}s</td></tr>
<tr><th>lag source</th><td>{{.LagSource}}</td></tr>
</table>
<h2>Resharding streams (this tablet as a target)</h2>
<table><tr><th>workflow</th><th>source shard</th><th>phase</th><th>rows copied</th><th>of about</th><th>rows/s</th><th>table</th><th>transactions</th><th>lag</th><th>source tablet</th><th>position</th><th>message</th></tr>
{{range .Streams}}<tr><td>{{.Workflow}}</td><td>{{.SourceShard}}</td><td>{{.Phase}}</td><td>{{.RowsCopied}}</td><td>{{.RowsTotal}}</td><td>{{printf "%.0f" .RowsPerSecond}}</td><td>{{.Table}}</td><td>{{.TransactionsApplied}}</td><td>{{printf "%.1f" .LagSeconds}}s</td><td>{{.SourceTablet}}</td><td>{{.Position}}</td><td>{{.Message}}</td></tr>
{{else}}<tr><td colspan="12">none running</td></tr>
{{end}}</table>
<h2>Backups</h2>
<table>
<tr><th>storage</th><td>{{.Backup.Storage}}</td></tr>
<tr><th>last backup by this tablet</th><td>{{.Backup.Last}}</td></tr>
<tr><th>running</th><td>{{.Backup.Running}}</td></tr>
<tr><th>schedule</th><td>{{.Backup.Schedule}}</td></tr>
<tr><th>binlog archive</th><td>{{.Backup.Archive}}</td></tr>
</table>
<h2>Pools</h2>
<table><tr><th>pool</th><th>in use</th><th>size</th></tr>
<tr><td>query</td><td>{{.Pool.InUse}}</td><td>{{.Pool.Size}}</td></tr>
<tr><td>transaction</td><td>{{.Pool.TxInUse}}</td><td>{{.Pool.TxSize}}</td></tr>
</table>
<p>{{.Pool.OpenTx}} open transactions</p>
<h2>Running queries</h2>
<table><tr><th>pool</th><th>mysqld connection</th><th>seconds</th><th>statement</th></tr>
{{range .Running}}<tr><td>{{.Pool}}</td><td>{{.ConnID}}</td><td>{{.Seconds}}</td><td class="sql">{{.SQL}}</td></tr>
{{else}}<tr><td colspan="4">none</td></tr>
{{end}}</table>
</body></html>
`))

// statusRunning is a row of the running queries table.
type statusRunning struct {
	Pool, SQL, Seconds string
	ConnID             uint32
}

// maxStatusSQL bounds the text of a statement on the status page.
const maxStatusSQL = 300

func statusRows(rs []queryservice.RunningStatement, now time.Time) []statusRunning {
	out := make([]statusRunning, 0, len(rs))
	for _, r := range rs {
		sql := sqltext.RedactSecrets(r.SQL)
		if len(sql) > maxStatusSQL {
			sql = sql[:maxStatusSQL] + "…"
		}
		out = append(out, statusRunning{Pool: r.Pool, ConnID: r.ConnID, SQL: sql,
			Seconds: fmt.Sprintf("%.3f", now.Sub(r.Since).Seconds())})
	}
	return out
}

func (a *Agent) serveStatus(w http.ResponseWriter, _ *http.Request) {
	st, err := a.mysqld.State()
	mysqld := st.String()
	if err != nil {
		mysqld += ": " + err.Error()
	}
	answers := "yes"
	if why := a.mysqldUnanswered(); why != nil {
		answers = "no: " + why.Error()
	}
	h := a.lastHealth()
	rt := h.GetRealtimeStats()
	a.mu.Lock()
	source := "none (primary, or no source yet)"
	if a.source != nil {
		source = fmt.Sprintf("%s:%d", a.source.Host, a.source.Port)
	}
	tt := a.tabletType
	if a.heldFenced {
		mysqld += " (killed by a fence; down until the shard has another primary)"
	}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = statusPage.Execute(w, map[string]any{
		"Alias":              a.aliasString(),
		"Keyspace":           a.cfg.Keyspace,
		"Shard":              a.cfg.Shard,
		"Type":               tt,
		"Serving":            h.GetServing(),
		"HealthError":        rt.GetHealthError(),
		"QPS":                rt.GetQps(),
		"Mysqld":             mysqld,
		"Answers":            answers,
		"MySQLPort":          a.cfg.MySQLPort,
		"PID":                a.mysqld.PID(),
		"Starts":             a.mysqld.Starts(),
		"Source":             source,
		"ReplicationRunning": rt.GetReplicationRunning(),
		"Lag":                rt.GetReplicationLagSeconds(),
		"LagSource":          a.lagSourceNow(),
		"Pool":               a.qs.Stats(),
		"Running":            statusRows(a.qs.Running(), time.Now()),
		"Streams":            streamRows(a.vrepl.Running()),
		"Backup":             a.backupStatus(tt),
	})
}

// statusStream is a row of the resharding streams table.
type statusStream struct {
	Workflow, SourceShard, Phase, Table, SourceTablet, Position, Message string
	RowsCopied, RowsTotal, TransactionsApplied                           int64
	RowsPerSecond, LagSeconds                                            float64
}

func streamRows(sts []*vreplicationpb.StreamStatus) []statusStream {
	out := make([]statusStream, 0, len(sts))
	for _, st := range sts {
		out = append(out, statusStream{
			Workflow: st.Workflow, SourceShard: st.SourceShard, Phase: st.Phase, Table: st.Table,
			SourceTablet: topo.AliasString(st.SourceTablet), Position: st.Position, Message: st.Message,
			RowsCopied: st.RowsCopied, RowsTotal: st.RowsTotal, TransactionsApplied: st.TransactionsApplied,
			RowsPerSecond: st.RowsPerSecond, LagSeconds: st.LagSeconds,
		})
	}
	return out
}

// backupStatus is the status page's Backups table.
func (a *Agent) backupStatus(tt topodatapb.TabletType) map[string]string {
	cfg := a.cfg.Backup
	out := map[string]string{"Storage": "none (--backup-storage)", "Last": "never", "Running": "nothing", "Schedule": "none", "Archive": "off"}
	if cfg.Storage == "" {
		return out
	}
	out["Storage"] = storageForDisplay(cfg.Storage)
	if t := a.backups.last(); !t.IsZero() {
		out["Last"] = fmt.Sprintf("%s (%v ago)", t.Format(time.RFC3339), time.Since(t).Round(time.Second))
	}
	if p := a.progress.snapshot(); p != nil {
		out["Running"] = progressText(p)
	}
	if cfg.Interval > 0 {
		out["Schedule"] = fmt.Sprintf("every %v from a replica (run by the primary), retention %+v", cfg.Interval, cfg.Retention)
	}
	if cfg.ArchiveBinlogs {
		out["Archive"] = fmt.Sprintf("on, segments of %v or %d MiB", cfg.ArchiveRotate, cfg.ArchiveMaxBytes>>20)
		if tt == topodatapb.TabletType_PRIMARY {
			out["Archive"] += fmt.Sprintf("; lag %.1fs", a.backups.archiveLagSeconds())
		} else {
			out["Archive"] += " (the primary archives)"
		}
	}
	return out
}

// storageForDisplay is a storage URL without its query parameters (which
// name credential files).
func storageForDisplay(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// progressText renders a running action's progress.
func progressText(p *tabletmanagerpb.Progress) string {
	elapsed := time.Since(time.Unix(0, p.StartedUnixNano)).Round(time.Second)
	if p.Total > 0 {
		return fmt.Sprintf("%s %s: %.0f of %.0f MB (%.0f%%), %v", p.Action, p.Detail, float64(p.Bytes)/(1<<20), float64(p.Total)/(1<<20), 100*float64(p.Bytes)/float64(p.Total), elapsed)
	}
	return fmt.Sprintf("%s %s: %.0f MB, %v", p.Action, p.Detail, float64(p.Bytes)/(1<<20), elapsed)
}
