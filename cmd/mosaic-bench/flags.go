package main

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	_ "github.com/go-sql-driver/mysql"
	"github.com/spf13/pflag"

	"github.com/mosaicdb/mosaic/bench"
)

// workloadFlags size the workloads.
type workloadFlags struct {
	opts bench.WorkloadOptions
}

func addWorkloadFlags(fs *pflag.FlagSet) *workloadFlags {
	f := &workloadFlags{opts: bench.DefaultWorkloadOptions()}
	fs.IntVar(&f.opts.Tables, "tables", f.opts.Tables, "number of sbtest tables")
	fs.IntVar(&f.opts.TableSize, "table-size", f.opts.TableSize, "rows per sbtest table")
	fs.IntVar(&f.opts.RangeSize, "range-size", f.opts.RangeSize, "ids per range query")
	fs.IntVar(&f.opts.PointSelects, "point-selects", f.opts.PointSelects, "point selects per read-only/read-write transaction")
	fs.IntVar(&f.opts.Warehouses, "warehouses", f.opts.Warehouses, "tpcc-lite warehouses")
	fs.IntVar(&f.opts.Items, "items", f.opts.Items, "tpcc-lite items")
	return f
}

func (f *workloadFlags) workload(name string) (bench.Workload, error) {
	return bench.NewWorkload(name, f.opts)
}

// runFlags say how to drive the load.
type runFlags struct {
	opts     bench.RunOptions
	json     bool
	cpuPorts []string
}

// probe returns a CPU probe over the processes listening on the
// --cpu-port ports, or nil when there are none.
func (f *runFlags) probe() (*bench.CPUProbe, error) {
	if len(f.cpuPorts) == 0 {
		return nil, nil
	}
	p := &bench.CPUProbe{Groups: map[string][]int{}}
	for _, np := range f.cpuPorts {
		name, port, ok := strings.Cut(np, "=")
		n, err := strconv.Atoi(port)
		if !ok || err != nil {
			return nil, fmt.Errorf("--cpu-port %q: want name=port", np)
		}
		pid, err := bench.ListeningPID(n)
		if err != nil {
			return nil, fmt.Errorf("--cpu-port %s: %w", np, err)
		}
		p.Groups[name] = append(p.Groups[name], pid)
	}
	return p, nil
}

func addRunFlags(fs *pflag.FlagSet) *runFlags {
	f := &runFlags{opts: bench.RunOptions{Threads: 8, Duration: 10e9, Warmup: 2e9}}
	fs.IntVar(&f.opts.Threads, "threads", f.opts.Threads, "load threads, one connection each")
	fs.DurationVar(&f.opts.Duration, "duration", f.opts.Duration, "measured time (per round for compare)")
	fs.DurationVar(&f.opts.Warmup, "warmup", f.opts.Warmup, "unmeasured load before measuring")
	fs.Float64Var(&f.opts.Rate, "rate", 0, "events per second of all threads together (0: unlimited)")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON")
	fs.StringSliceVar(&f.cpuPorts, "cpu-port", nil, "name=port: report the CPU per statement of the process listening on port (repeatable; several ports may share a name)")
	return f
}

// openDB opens a database handle on a go-sql-driver DSN and checks it.
func openDB(dsn string) (*sql.DB, error) {
	if dsn == "" {
		return nil, fmt.Errorf("no DSN (--dsn)")
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, fmt.Errorf("dsn %q: %w", dsn, err)
	}
	return db, nil
}
