package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// CompareOptions say how to compare two endpoints.
type CompareOptions struct {
	// Run is each round's load: threads, round length, rate. Its Warmup
	// runs once per side before the first round, unmeasured.
	Run RunOptions
	// Rounds is the number of measured rounds per side.
	Rounds int
	// LabelA and LabelB name the sides in reports.
	LabelA, LabelB string
	// Probe, when set, brackets every measured round.
	Probe RoundProbe
}

// RoundProbe measures something besides the load around each round, such
// as the CPU time of the processes serving it.
type RoundProbe interface {
	// Begin is called just before a round of side ("A" or "B") starts.
	Begin(side string) error
	// End is called just after it, with its result; it returns figures
	// of its own for the round, by name.
	End(side string, r *Result) (map[string]float64, error)
}

// Summary holds the figures compared between sides.
type Summary struct {
	QPS    float64 `json:"qps"`
	TPS    float64 `json:"tps"`
	P50    float64 `json:"p50_ms"`
	P95    float64 `json:"p95_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
	Errors float64 `json:"errors"`
	// LongestGap is the longest stretch without an event that succeeded,
	// in ms: the worst round's, not the median (one stall is one too
	// many).
	LongestGap float64 `json:"longest_gap_ms"`
	// Probe holds the probe's figures.
	Probe map[string]float64 `json:"probe,omitempty"`
}

// Side is one endpoint's rounds and their medians.
type Side struct {
	Label  string               `json:"label"`
	Rounds []*Result            `json:"rounds"`
	Probes []map[string]float64 `json:"probes,omitempty"`
	Median Summary              `json:"median"`
}

// Comparison is the outcome of Compare.
type Comparison struct {
	Workload     string  `json:"workload"`
	Threads      int     `json:"threads"`
	Rounds       int     `json:"rounds"`
	RoundSeconds float64 `json:"round_seconds"`
	A            Side    `json:"a"`
	B            Side    `json:"b"`
	// Ratio is A's median over B's, figure by figure (0 where B's is 0).
	Ratio Summary `json:"ratio"`
}

// Compare runs w against a and b in alternating rounds (A B, then B A,
// and so on, so that a drift of the machine weighs on both sides alike)
// and reports each side's medians and their ratio A/B.
func Compare(ctx context.Context, a, b *sql.DB, w Workload, opts CompareOptions) (*Comparison, error) {
	if opts.Rounds < 1 {
		return nil, errors.New("compare: need at least one round")
	}
	if err := opts.Run.Validate(); err != nil {
		return nil, err
	}
	c := &Comparison{Workload: w.Name(), Threads: opts.Run.Threads, Rounds: opts.Rounds, RoundSeconds: opts.Run.Duration.Seconds()}
	c.A.Label, c.B.Label = labelOr(opts.LabelA, "A"), labelOr(opts.LabelB, "B")
	sides := map[string]*Side{"A": &c.A, "B": &c.B}
	dbs := map[string]*sql.DB{"A": a, "B": b}
	if opts.Run.Warmup > 0 {
		for _, s := range []string{"A", "B"} {
			wo := opts.Run
			wo.Duration, wo.Warmup, wo.Label = opts.Run.Warmup, 0, sides[s].Label
			if _, err := Run(ctx, dbs[s], w, wo); err != nil {
				return nil, fmt.Errorf("warm up %s: %w", sides[s].Label, err)
			}
		}
	}
	for round := range opts.Rounds {
		order := []string{"A", "B"}
		if round%2 == 1 {
			order = []string{"B", "A"}
		}
		for _, s := range order {
			ro := opts.Run
			ro.Warmup, ro.Label = 0, sides[s].Label
			if opts.Probe != nil {
				if err := opts.Probe.Begin(s); err != nil {
					return nil, err
				}
			}
			r, err := Run(ctx, dbs[s], w, ro)
			if err != nil {
				return nil, fmt.Errorf("round %d of %s: %w", round+1, sides[s].Label, err)
			}
			sides[s].Rounds = append(sides[s].Rounds, r)
			if opts.Probe != nil {
				p, err := opts.Probe.End(s, r)
				if err != nil {
					return nil, err
				}
				sides[s].Probes = append(sides[s].Probes, p)
			}
		}
	}
	c.A.Median = medians(c.A.Rounds, c.A.Probes)
	c.B.Median = medians(c.B.Rounds, c.B.Probes)
	c.Ratio = ratio(c.A.Median, c.B.Median)
	return c, nil
}

func labelOr(l, def string) string {
	if l == "" {
		return def
	}
	return l
}

// Median returns the median of xs (the mean of the middle two for an even
// count), 0 for none. xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// medians takes the median of each figure over the rounds separately.
func medians(rounds []*Result, probes []map[string]float64) Summary {
	pick := func(f func(*Result) float64) float64 {
		xs := make([]float64, len(rounds))
		for i, r := range rounds {
			xs[i] = f(r)
		}
		return Median(xs)
	}
	s := Summary{
		QPS:    pick(func(r *Result) float64 { return r.QPS }),
		TPS:    pick(func(r *Result) float64 { return r.TPS }),
		P50:    pick(func(r *Result) float64 { return r.Latency.P50 }),
		P95:    pick(func(r *Result) float64 { return r.Latency.P95 }),
		P99:    pick(func(r *Result) float64 { return r.Latency.P99 }),
		Max:    pick(func(r *Result) float64 { return r.Latency.Max }),
		Errors: pick(func(r *Result) float64 { return float64(r.Errors) }),
	}
	for _, r := range rounds {
		s.LongestGap = max(s.LongestGap, r.LongestGapMs)
	}
	names := map[string]bool{}
	for _, p := range probes {
		for k := range p {
			names[k] = true
		}
	}
	for k := range names {
		var xs []float64
		for _, p := range probes {
			if v, ok := p[k]; ok {
				xs = append(xs, v)
			}
		}
		if s.Probe == nil {
			s.Probe = map[string]float64{}
		}
		s.Probe[k] = Median(xs)
	}
	return s
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func ratio(a, b Summary) Summary {
	r := Summary{
		QPS: div(a.QPS, b.QPS), TPS: div(a.TPS, b.TPS),
		P50: div(a.P50, b.P50), P95: div(a.P95, b.P95), P99: div(a.P99, b.P99), Max: div(a.Max, b.Max),
		Errors: div(a.Errors, b.Errors), LongestGap: div(a.LongestGap, b.LongestGap),
	}
	for k, v := range a.Probe {
		if bv, ok := b.Probe[k]; ok {
			if r.Probe == nil {
				r.Probe = map[string]float64{}
			}
			r.Probe[k] = div(v, bv)
		}
	}
	return r
}

// Text returns the comparison as a small table.
func (c *Comparison) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d threads, %d rounds of %.0fs per side (medians)\n", c.Workload, c.Threads, c.Rounds, c.RoundSeconds)
	fmt.Fprintf(&b, "  %-10s %12s %12s %10s %10s %10s %8s %10s\n", "side", "qps", "tps", "p50 ms", "p95 ms", "p99 ms", "errors", "gap ms")
	for _, s := range []*Side{&c.A, &c.B} {
		m := s.Median
		fmt.Fprintf(&b, "  %-10s %12.1f %12.1f %10.3f %10.3f %10.3f %8.0f %10.0f\n", s.Label, m.QPS, m.TPS, m.P50, m.P95, m.P99, m.Errors, m.LongestGap)
	}
	r := c.Ratio
	fmt.Fprintf(&b, "  %-10s %12.3f %12.3f %10.3f %10.3f %10.3f\n", "A/B", r.QPS, r.TPS, r.P50, r.P95, r.P99)
	keys := probeKeys(c.A.Median.Probe, c.B.Median.Probe)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-28s %s %12.2f   %s %12.2f\n", k, c.A.Label, c.A.Median.Probe[k], c.B.Label, c.B.Median.Probe[k])
	}
	return b.String()
}

func probeKeys(ms ...map[string]float64) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}
