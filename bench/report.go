package bench

import (
	"fmt"
	"strings"
	"time"
)

// Report is what `mosaic-bench suite` measured, for its markdown report.
type Report struct {
	Title   string    `json:"title"`
	Date    time.Time `json:"date"`
	Commit  string    `json:"commit"`
	Machine Machine   `json:"machine"`
	// Settings describe the run (threads, rounds, cluster options...).
	Settings []string `json:"settings"`
	// Entries are the gate-vs-direct comparisons.
	Entries []Entry `json:"entries"`
	// Floor, when measured, compares two hops that only forward bytes
	// (side A) with mysqld directly (side B): see Forward.
	Floor *Entry `json:"floor,omitempty"`
	// Memory holds the gate's memory measurements.
	Memory *MemoryFigures `json:"memory,omitempty"`
	// Notes are free lines appended to the report.
	Notes []string `json:"notes,omitempty"`
}

// Machine describes where the suite ran.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryMB   int64  `json:"memory_mb"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	MySQL      string `json:"mysql"`
	LoadBefore string `json:"load_before"`
}

// Entry is one comparison of the gate (side A) with mysqld directly (side
// B) on one keyspace.
type Entry struct {
	Keyspace   string      `json:"keyspace"`
	Comparison *Comparison `json:"comparison"`
}

// MemoryFigures are the gate's RSS measurements.
type MemoryFigures struct {
	IdleConns        int     `json:"idle_conns"`
	RSSBeforeMB      float64 `json:"rss_before_mb"`
	RSSWithIdleMB    float64 `json:"rss_with_idle_mb"`
	StreamRows       int64   `json:"stream_rows"`
	StreamMB         float64 `json:"stream_mb"`
	StreamSeconds    float64 `json:"stream_seconds"`
	StreamRSSStartMB float64 `json:"stream_rss_start_mb"`
	StreamRSSPeakMB  float64 `json:"stream_rss_peak_mb"`
}

// Budget limits of the performance budget.
const (
	BudgetQPSRatio      = 0.50  // gate QPS / direct QPS, point-select, 8 threads
	BudgetCPUPerQueryUS = 60.0  // gate + tablet CPU µs per point-select
	BudgetAddedP50US    = 250.0 // gate p50 - direct p50 at 1 thread, µs
	BudgetIdleRSSMB     = 100.0 // gate RSS with 1,000 idle connections
	BudgetStreamGrowMB  = 50.0  // gate RSS growth streaming 1M rows
	// BudgetShardedCPURatio bounds the gate + tablet CPU per point-select
	// on the sharded keyspace over the unsharded one's: each goes to
	// exactly one shard (issue 17).
	BudgetShardedCPURatio = 1.10
	// BudgetStallMS bounds the longest time without a committed
	// transaction of read-write on the sharded keyspace, whose
	// transactions lock rows of several shards in random order: a
	// deadlock across shards must be broken within it.
	BudgetStallMS = 1000.0
)

// Probe keys CPUProbe reports for the suite's process groups.
const (
	ProbeGate   = "gate_cpu_us_per_query"
	ProbeTablet = "tablet_cpu_us_per_query"
	ProbeMySQLd = "mysqld_cpu_us_per_query"
	ProbeClient = "client_cpu_us_per_query"
	// The two forwarding hops of the floor measurement.
	ProbeHop1 = "hop1_cpu_us_per_query"
	ProbeHop2 = "hop2_cpu_us_per_query"
)

// AddedP50US is how much the gate adds to the median latency, in µs.
func (e Entry) AddedP50US() float64 {
	return (e.Comparison.A.Median.P50 - e.Comparison.B.Median.P50) * 1000
}

// ProxyCPUUS is the gate's and the tablets' CPU per query through the
// gate, in µs.
func (e Entry) ProxyCPUUS() float64 {
	p := e.Comparison.A.Median.Probe
	return p[ProbeGate] + p[ProbeTablet]
}

// FloorPoint is the floor measured beside the gate's point-select at the
// same threads: the hops' QPS over direct, their CPU per query, and the
// gate's QPS over the hops' (medians of two comparisons of one run).
// ok is false when either is missing.
func (r *Report) FloorPoint() (hopsRatio, hopsCPU, gateOverHops float64, threads int, ok bool) {
	if r.Floor == nil || r.Floor.Comparison.A.Median.QPS <= 0 {
		return 0, 0, 0, 0, false
	}
	fc := r.Floor.Comparison
	for _, e := range r.Entries {
		c := e.Comparison
		if e.Keyspace == r.Floor.Keyspace && c.Workload == fc.Workload && c.Threads == fc.Threads {
			p := fc.A.Median.Probe
			return fc.Ratio.QPS, p[ProbeHop1] + p[ProbeHop2], c.A.Median.QPS / fc.A.Median.QPS, fc.Threads, true
		}
	}
	return 0, 0, 0, 0, false
}

// Check is one line of the budget table.
type Check struct {
	What   string
	Limit  string
	Actual string
	OK     bool
}

// Checks evaluates the performance budget from the entries named
// point-select on the first keyspace (the unsharded one), point-select
// and read-write on the next (the sharded one), and the memory figures.
func (r *Report) Checks() []Check {
	var out []Check
	var ps8, ps1 *Entry
	for i := range r.Entries {
		e := &r.Entries[i]
		if e.Keyspace != r.Entries[0].Keyspace || e.Comparison.Workload != "point-select" {
			continue
		}
		switch {
		case e.Comparison.Threads == 1 && ps1 == nil:
			ps1 = e
		case e.Comparison.Threads > 1 && ps8 == nil:
			ps8 = e
		}
	}
	if ps8 != nil {
		q := ps8.Comparison.Ratio.QPS
		out = append(out, Check{fmt.Sprintf("point-select QPS, gate / direct, %d threads", ps8.Comparison.Threads),
			fmt.Sprintf("≥ %.0f %%", BudgetQPSRatio*100), fmt.Sprintf("%.1f %%", q*100), q >= BudgetQPSRatio})
		c := ps8.ProxyCPUUS()
		out = append(out, Check{"gate + tablet CPU per point-select", fmt.Sprintf("≤ %.0f µs", BudgetCPUPerQueryUS),
			fmt.Sprintf("%.1f µs", c), c > 0 && c <= BudgetCPUPerQueryUS})
	}
	var sps, srw *Entry
	for i := range r.Entries {
		e := &r.Entries[i]
		if e.Keyspace == r.Entries[0].Keyspace || e.Comparison.Threads < 2 {
			continue
		}
		switch {
		case e.Comparison.Workload == "point-select" && sps == nil:
			sps = e
		case e.Comparison.Workload == "read-write" && srw == nil:
			srw = e
		}
	}
	if sps != nil && ps8 != nil && ps8.ProxyCPUUS() > 0 {
		q := sps.ProxyCPUUS() / ps8.ProxyCPUUS()
		out = append(out, Check{fmt.Sprintf("gate + tablet CPU per point-select, %s / %s", sps.Keyspace, ps8.Keyspace),
			fmt.Sprintf("≤ %.0f %%", BudgetShardedCPURatio*100), fmt.Sprintf("%.1f %% (%.1f / %.1f µs)", q*100, sps.ProxyCPUUS(), ps8.ProxyCPUUS()), q <= BudgetShardedCPURatio})
	}
	if srw != nil {
		g := srw.Comparison.A.Median.LongestGap
		out = append(out, Check{fmt.Sprintf("longest time without a committed transaction, %s read-write, %d threads", srw.Keyspace, srw.Comparison.Threads),
			fmt.Sprintf("≤ %.0f ms", BudgetStallMS), fmt.Sprintf("%.0f ms", g), g <= BudgetStallMS})
	}
	if ps1 != nil {
		a := ps1.AddedP50US()
		out = append(out, Check{"added p50 latency, point-select, 1 thread", fmt.Sprintf("≤ %.0f µs", BudgetAddedP50US),
			fmt.Sprintf("%.0f µs", a), a <= BudgetAddedP50US})
	}
	if m := r.Memory; m != nil {
		if m.IdleConns > 0 {
			out = append(out, Check{fmt.Sprintf("gate RSS with %d idle connections", m.IdleConns), fmt.Sprintf("< %.0f MB", BudgetIdleRSSMB),
				fmt.Sprintf("%.1f MB", m.RSSWithIdleMB), m.RSSWithIdleMB < BudgetIdleRSSMB})
		}
		if m.StreamRows > 0 {
			g := m.StreamRSSPeakMB - m.StreamRSSStartMB
			out = append(out, Check{fmt.Sprintf("gate RSS growth streaming %d rows", m.StreamRows), fmt.Sprintf("< %.0f MB", BudgetStreamGrowMB),
				fmt.Sprintf("%.1f MB", g), g < BudgetStreamGrowMB})
		}
	}
	return out
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	title := r.Title
	if title == "" {
		title = "Mosaic benchmark"
	}
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "- date: %s\n- commit: %s\n", r.Date.UTC().Format(time.RFC3339), r.Commit)
	m := r.Machine
	fmt.Fprintf(&b, "- machine: %s, %d cores, %d MB, Linux %s, %s, %s\n", m.CPU, m.Cores, m.MemoryMB, m.Kernel, m.Go, m.MySQL)
	if m.LoadBefore != "" {
		fmt.Fprintf(&b, "- load average before the run: %s\n", m.LoadBefore)
	}
	for _, s := range r.Settings {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	if checks := r.Checks(); len(checks) > 0 {
		b.WriteString("\n## Budget\n\n| what | budget | measured | |\n| --- | --- | --- | --- |\n")
		for _, c := range checks {
			mark := "ok"
			if !c.OK {
				mark = "**over**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.What, c.Limit, c.Actual, mark)
		}
	}
	if ratio, cpu, gateOver, threads, ok := r.FloorPoint(); ok {
		fmt.Fprintf(&b, "\nFor scale, two hops that only forward bytes (below) reach %.1f %% of direct at %d threads and spend %.1f µs of CPU per point-select; "+
			"the gate reaches %.1f %% of their QPS.\n", ratio*100, threads, cpu, gateOver*100)
	}
	if len(r.Entries) > 0 {
		b.WriteString("\n## Gate vs direct mysqld\n\n")
		b.WriteString("Medians over the rounds. QPS counts statements (a read-write transaction is 20, BEGIN and COMMIT included); " +
			"p50 is per event (one statement for point-select, one transaction for read-write). " +
			"CPU is µs of CPU per statement, from /proc/<pid>/stat over each round. " +
			"The longest gap is the longest time without an event that succeeded (for read-write: without a committed transaction), in the worst round.\n\n")
		b.WriteString("| keyspace | workload | threads | gate QPS | direct QPS | gate/direct | gate p50 ms | direct p50 ms | added p50 µs | gate CPU µs/q | tablet CPU µs/q | gate+tablet µs/q | mysqld µs/q via gate | mysqld µs/q direct | errors gate/direct | longest gap ms gate/direct |\n")
		b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, e := range r.Entries {
			c := e.Comparison
			a, d := c.A.Median, c.B.Median
			fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %.0f | %.1f %% | %.3f | %.3f | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f/%.0f | %.0f/%.0f |\n",
				e.Keyspace, c.Workload, c.Threads, a.QPS, d.QPS, c.Ratio.QPS*100, a.P50, d.P50, e.AddedP50US(),
				a.Probe[ProbeGate], a.Probe[ProbeTablet], e.ProxyCPUUS(), a.Probe[ProbeMySQLd], d.Probe[ProbeMySQLd], a.Errors, d.Errors, a.LongestGap, d.LongestGap)
		}
		b.WriteString("\nLoad generator (mosaic-bench itself) CPU per statement, gate side / direct side: ")
		var parts []string
		for _, e := range r.Entries {
			c := e.Comparison
			parts = append(parts, fmt.Sprintf("%s %s ×%d %.1f / %.1f µs", e.Keyspace, c.Workload, c.Threads,
				c.A.Median.Probe[ProbeClient], c.B.Median.Probe[ProbeClient]))
		}
		b.WriteString(strings.Join(parts, "; ") + ".\n")
		b.WriteString("\nEvery round (QPS gate / direct):\n\n")
		for _, e := range r.Entries {
			c := e.Comparison
			var rs []string
			for i := range c.A.Rounds {
				if i < len(c.B.Rounds) {
					rs = append(rs, fmt.Sprintf("%.0f / %.0f", c.A.Rounds[i].QPS, c.B.Rounds[i].QPS))
				}
			}
			fmt.Fprintf(&b, "- %s %s ×%d: %s\n", e.Keyspace, c.Workload, c.Threads, strings.Join(rs, ", "))
		}
	}
	if e := r.Floor; e != nil {
		c := e.Comparison
		a, d := c.A.Median, c.B.Median
		b.WriteString("\n## Reference: two hops that only forward bytes\n\n")
		b.WriteString("`mosaic-bench forward` twice in a row in front of the same mysqld (client -tcp-> hop1 -unix-> hop2 -unix-> mysqld, " +
			"the path of a gate and a tablet on one host), each hop a process with the gate's GOMAXPROCS that reads and writes bytes without looking at them, " +
			"compared with mysqld directly in alternating rounds. They parse, route and pool nothing: their figures are what two more processes " +
			"in a statement's path cost on this machine by themselves (the reads, writes, sleeps and wake-ups).\n\n")
		b.WriteString("| keyspace | workload | threads | hops QPS | direct QPS | hops/direct | hops p50 ms | direct p50 ms | hop1 CPU µs/q | hop2 CPU µs/q | hop1+hop2 µs/q | mysqld µs/q via hops | mysqld µs/q direct | errors hops/direct |\n")
		b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %.0f | %.1f %% | %.3f | %.3f | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f/%.0f |\n",
			e.Keyspace, c.Workload, c.Threads, a.QPS, d.QPS, c.Ratio.QPS*100, a.P50, d.P50,
			a.Probe[ProbeHop1], a.Probe[ProbeHop2], a.Probe[ProbeHop1]+a.Probe[ProbeHop2], a.Probe[ProbeMySQLd], d.Probe[ProbeMySQLd], a.Errors, d.Errors)
		var rs []string
		for i := range c.A.Rounds {
			if i < len(c.B.Rounds) {
				rs = append(rs, fmt.Sprintf("%.0f / %.0f", c.A.Rounds[i].QPS, c.B.Rounds[i].QPS))
			}
		}
		fmt.Fprintf(&b, "\nEvery round (QPS hops / direct): %s. Load generator CPU per statement, hops side / direct side: %.1f / %.1f µs.\n",
			strings.Join(rs, ", "), a.Probe[ProbeClient], d.Probe[ProbeClient])
	}
	if mm := r.Memory; mm != nil {
		b.WriteString("\n## Gate memory\n\n| measurement | figure |\n| --- | ---: |\n")
		if mm.IdleConns > 0 {
			fmt.Fprintf(&b, "| RSS before | %.1f MB |\n| RSS with %d idle connections | %.1f MB |\n| per idle connection | %.1f KB |\n",
				mm.RSSBeforeMB, mm.IdleConns, mm.RSSWithIdleMB, (mm.RSSWithIdleMB-mm.RSSBeforeMB)*1024/float64(mm.IdleConns))
		}
		if mm.StreamRows > 0 {
			fmt.Fprintf(&b, "| scatter select of %d rows (%.0f MB of row data) | %.1f s, %.0f rows/s |\n", mm.StreamRows, mm.StreamMB, mm.StreamSeconds, float64(mm.StreamRows)/mm.StreamSeconds)
			fmt.Fprintf(&b, "| RSS before the select / peak during it | %.1f MB / %.1f MB |\n| RSS growth | %.1f MB |\n",
				mm.StreamRSSStartMB, mm.StreamRSSPeakMB, mm.StreamRSSPeakMB-mm.StreamRSSStartMB)
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}
