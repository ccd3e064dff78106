package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/bench"
)

// newTLSCostCmd is `mosaic-bench tls-cost`: the price of mutual TLS
// between the gate and the tablets, measured side by side.
func newTLSCostCmd() *cobra.Command {
	var out string
	var threads []int
	var rounds int
	var duration, warmup time.Duration
	var sockets bool
	secure := &suiteFlags{etcdPort: 22379, gatePort: 25306, gateHTTPPort: 25000, tabletOffset: 9000}
	plain := &suiteFlags{etcdPort: 22479, gatePort: 25406, gateHTTPPort: 25100, tabletOffset: 12000, insecure: true}
	cmd := &cobra.Command{
		Use:   "tls-cost",
		Short: "point-select through a gate whose gRPC to the tablets is mutual TLS, and through one in plaintext, side by side",
		Long: `tls-cost starts two local clusters with mosaic up (replicas 0): one as
mosaic up runs by default, with mutual TLS on every gRPC and etcd connection,
and one with --insecure. It compares point-select on commerce through the two
gates in alternating rounds, with the CPU time per query of each cluster's
gate, tablet and mysqld, and writes a markdown report to --out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, f := range []*suiteFlags{secure, plain} {
				f.mosaicBin = secure.mosaicBin
				if !sockets {
					f.extraUp = []string{"--gate-flag=--tablet-sockets=false"}
				}
			}
			return runTLSCost(cmd.Context(), secure, plain, threads, rounds, duration, warmup, sockets, out, cmd.OutOrStdout())
		},
	}
	exe, _ := os.Executable()
	fs := cmd.Flags()
	fs.StringVar(&out, "out", "bench/results", "directory of the report")
	fs.StringVar(&secure.mosaicBin, "mosaic", filepath.Join(filepath.Dir(exe), "mosaic"), "mosaic binary")
	fs.IntSliceVar(&threads, "threads", []int{8, 1}, "client threads of each comparison")
	fs.IntVar(&rounds, "rounds", 3, "measured rounds per side")
	fs.DurationVar(&duration, "duration", 10*time.Second, "length of a round")
	fs.DurationVar(&warmup, "warmup", 3*time.Second, "unmeasured warm-up per side")
	fs.BoolVar(&sockets, "tablet-sockets", true, "gates reach the tablets through their unix sockets (false: loopback TCP)")
	return cmd
}

// sideProbes measures each side's own cluster.
type sideProbes map[string]*bench.CPUProbe

func (s sideProbes) Begin(side string) error { return s[side].Begin(side) }

func (s sideProbes) End(side string, r *bench.Result) (map[string]float64, error) {
	return s[side].End(side, r)
}

func runTLSCost(ctx context.Context, secure, plain *suiteFlags, threads []int, rounds int, duration, warmup time.Duration, sockets bool, outDir string, out io.Writer) error {
	raiseFileLimit()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "tls-cost: "+format+"\n", args...) }
	wopts := bench.DefaultWorkloadOptions()
	probes := sideProbes{}
	dbs := map[string]*sql.DB{}
	for side, f := range map[string]*suiteFlags{"A": secure, "B": plain} {
		stop, err := startCluster(ctx, f, logf)
		if err != nil {
			return err
		}
		defer stop()
		probe := &bench.CPUProbe{Groups: map[string][]int{"client": {os.Getpid()}}}
		for group, port := range map[string]int{"gate": f.gatePort, "tablet": f.grpcPort(localShards[0]), "mysqld": f.mysqlPort(localShards[0])} {
			pid, err := bench.ListeningPID(port)
			if err != nil {
				return fmt.Errorf("find the %s on port %d: %w", group, port, err)
			}
			probe.Groups[group] = []int{pid}
		}
		probes[side] = probe
		db, err := openDB(fmt.Sprintf("root@tcp(127.0.0.1:%d)/commerce", f.gatePort))
		if err != nil {
			return err
		}
		defer db.Close()
		w, err := bench.NewWorkload("point-select", wopts)
		if err != nil {
			return err
		}
		if err := retry(ctx, 30*time.Second, func() error { return w.Prepare(ctx, db) }); err != nil {
			return fmt.Errorf("prepare through the gate on %d: %w", f.gatePort, err)
		}
		dbs[side] = db
	}
	transport := "unix sockets"
	if !sockets {
		transport = "loopback TCP"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# mTLS between gate and tablets: what it costs\n\n")
	m := machine()
	fmt.Fprintf(&b, "%s, commit %s, %s, %d cores, %s\n\n", time.Now().UTC().Format(time.RFC3339), gitCommit(), m.CPU, m.Cores, m.MySQL)
	fmt.Fprintf(&b, "Two local clusters side by side (mosaic up, replicas 0): A as mosaic up runs by default (mutual TLS 1.3 on every gRPC and etcd connection, each tablet RPC authorized by role), B with --insecure. Gates reach tablets through %s. point-select on commerce (sbtest1, %d rows) through each gate, %d rounds of %v per side, alternating, after %v of warm-up per side; CPU per query of each side's own gate, tablet and mysqld from /proc.\n\n", transport, wopts.TableSize, rounds, duration, warmup)
	fmt.Fprintf(&b, "| threads | QPS TLS | QPS plaintext | TLS/plain | gate µs/q TLS | plain | tablet µs/q TLS | plain | gate+tablet TLS | plain | p50 ms TLS | plain |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	var texts []string
	for _, n := range threads {
		w, err := bench.NewWorkload("point-select", wopts)
		if err != nil {
			return err
		}
		logf("point-select at %d threads, TLS vs plaintext", n)
		c, err := bench.Compare(ctx, dbs["A"], dbs["B"], w, bench.CompareOptions{
			Run:    bench.RunOptions{Threads: n, Duration: duration, Warmup: warmup},
			Rounds: rounds, LabelA: "tls", LabelB: "plaintext", Probe: probes,
		})
		if err != nil {
			return err
		}
		fmt.Fprint(os.Stderr, c.Text())
		texts = append(texts, c.Text())
		a, p := c.A.Median, c.B.Median
		fmt.Fprintf(&b, "| %d | %.0f | %.0f | %.3f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.3f | %.3f |\n", n, a.QPS, p.QPS, c.Ratio.QPS,
			a.Probe[bench.ProbeGate], p.Probe[bench.ProbeGate], a.Probe[bench.ProbeTablet], p.Probe[bench.ProbeTablet],
			a.Probe[bench.ProbeGate]+a.Probe[bench.ProbeTablet], p.Probe[bench.ProbeGate]+p.Probe[bench.ProbeTablet], a.P50, p.P50)
	}
	fmt.Fprintf(&b, "\n```\n%s```\n", strings.Join(texts, "\n"))
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	name := filepath.Join(outDir, time.Now().UTC().Format("20060102-150405")+"-tls-cost.md")
	if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprint(out, b.String())
	fmt.Fprintf(out, "\nreport: %s\n", name)
	return nil
}
