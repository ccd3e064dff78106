package tablet

import (
	"fmt"
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
	// (not /debug/pprof/cmdline: a command line may hold a password).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
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
