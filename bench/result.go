package bench

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Result is what one run measured. Latencies are per event: one statement
// for point-select, insert and scatter-agg, one whole transaction for
// read-only, read-write and tpcc-lite.
type Result struct {
	Workload string  `json:"workload"`
	Label    string  `json:"label,omitempty"`
	Threads  int     `json:"threads"`
	Rate     float64 `json:"rate,omitempty"`
	// Seconds is the length of the measured window.
	Seconds float64 `json:"seconds"`
	// Events are the events that succeeded; Queries every statement sent,
	// of failed events too.
	Events     uint64  `json:"events"`
	Queries    uint64  `json:"queries"`
	Errors     uint64  `json:"errors"`
	Reconnects uint64  `json:"reconnects,omitempty"`
	QPS        float64 `json:"qps"`
	TPS        float64 `json:"tps"`
	Latency    Latency `json:"latency_ms"`
	// LongestGapMs is the longest stretch of the measured window without
	// an event that succeeded: for a transaction workload, without a
	// committed transaction (a stall, such as a deadlock waiting for
	// innodb_lock_wait_timeout, shows here).
	LongestGapMs float64 `json:"longest_gap_ms"`
	// ErrorCodes counts errors by MySQL error number ("other" for the
	// rest); ErrorSamples keeps the first few messages.
	ErrorCodes   map[string]uint64 `json:"error_codes,omitempty"`
	ErrorSamples []string          `json:"error_samples,omitempty"`
	// CPU holds a CPUProbe's figures, when one watched the run.
	CPU map[string]float64 `json:"cpu,omitempty"`
}

// Latency holds event latencies in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// JSON returns the result as indented JSON.
func (r *Result) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}

// ParseResult reads a result printed with --json.
func ParseResult(data []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("parse result: %w", err)
	}
	if r.Workload == "" {
		return nil, fmt.Errorf("parse result: no workload")
	}
	return &r, nil
}

// Text returns the result in a few human lines.
func (r *Result) Text() string {
	var b strings.Builder
	label := r.Workload
	if r.Label != "" {
		label += " @ " + r.Label
	}
	fmt.Fprintf(&b, "%s: %d threads, %.1fs", label, r.Threads, r.Seconds)
	if r.Rate > 0 {
		fmt.Fprintf(&b, ", rate %.0f/s", r.Rate)
	}
	b.WriteByte('\n')
	fmt.Fprintf(&b, "  queries %d (%.1f/s), events %d (%.1f/s), errors %d\n", r.Queries, r.QPS, r.Events, r.TPS, r.Errors)
	fmt.Fprintf(&b, "  latency ms: p50 %.3f  p95 %.3f  p99 %.3f  max %.3f  mean %.3f\n",
		r.Latency.P50, r.Latency.P95, r.Latency.P99, r.Latency.Max, r.Latency.Mean)
	fmt.Fprintf(&b, "  longest time without an event that succeeded: %.0f ms\n", r.LongestGapMs)
	if len(r.ErrorCodes) > 0 {
		codes := make([]string, 0, len(r.ErrorCodes))
		for c, n := range r.ErrorCodes {
			codes = append(codes, fmt.Sprintf("%s×%d", c, n))
		}
		sort.Strings(codes)
		fmt.Fprintf(&b, "  error codes: %s\n", strings.Join(codes, " "))
		for _, s := range r.ErrorSamples {
			fmt.Fprintf(&b, "  error: %s\n", s)
		}
	}
	for _, k := range probeKeys(r.CPU) {
		fmt.Fprintf(&b, "  %s %.1f\n", k, r.CPU[k])
	}
	if r.Reconnects > 0 {
		fmt.Fprintf(&b, "  reconnects %d\n", r.Reconnects)
	}
	return b.String()
}
