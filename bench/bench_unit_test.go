package bench

import (
	"bytes"
	"context"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/testports"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.95, 9500 * time.Microsecond}, {0.99, 9900 * time.Microsecond}, {1, 10000 * time.Microsecond}} {
		got := h.Quantile(c.q)
		if rel := math.Abs(float64(got-c.want)) / float64(c.want); rel > 0.02 {
			t.Errorf("q%.2f = %v, want %v within 2%%", c.q, got, c.want)
		}
	}
	if h.Max() != 10*time.Millisecond || h.Count() != 10000 {
		t.Errorf("max %v count %d", h.Max(), h.Count())
	}
	if m := h.Mean(); m < 5000*time.Microsecond || m > 5001*time.Microsecond {
		t.Errorf("mean %v", m)
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram is not zero")
	}
}

func TestHistogramBucketsCoverEveryValue(t *testing.T) {
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 129, 1000, 123456789, 1 << 40, math.MaxInt64} {
		b := bucketOf(v)
		if b < 0 || b >= histBuckets {
			t.Fatalf("bucket of %d = %d, out of range", v, b)
		}
		if up := bucketUpper(b); up < v || (b > 0 && bucketUpper(b-1) >= v) {
			t.Errorf("value %d in bucket %d whose range ends at %d (previous ends at %d)", v, b, up, bucketUpper(b-1))
		}
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b Histogram
	a.Record(time.Millisecond)
	b.Record(3 * time.Millisecond)
	b.Record(2 * time.Millisecond)
	a.Merge(&b)
	if a.Count() != 3 || a.Max() != 3*time.Millisecond || a.Mean() != 2*time.Millisecond {
		t.Fatalf("merged: count %d max %v mean %v", a.Count(), a.Max(), a.Mean())
	}
	if q := a.Quantile(0.5); q < 1990*time.Microsecond || q > 2*time.Millisecond+40*time.Microsecond {
		t.Fatalf("merged median %v", q)
	}
}

func TestResultJSONRoundTrip(t *testing.T) {
	st := &threadStats{}
	st.hist.Record(2 * time.Millisecond)
	st.events, st.queries = 1, 20
	st.recordError(errString("boom"))
	r := summarize("read-write", RunOptions{Threads: 2, Label: "gate"}, 2*time.Second, []*threadStats{st, {}})
	if r.QPS != 10 || r.TPS != 0.5 || r.Errors != 1 || r.ErrorCodes["other"] != 1 {
		t.Fatalf("summary %+v", r)
	}
	back, err := ParseResult(r.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if back.Workload != "read-write" || back.Label != "gate" || back.Queries != 20 || back.Latency.P50 != r.Latency.P50 || back.ErrorSamples[0] != "boom" {
		t.Fatalf("parsed %+v", back)
	}
	if _, err := ParseResult([]byte(`{"qps": 1}`)); err == nil {
		t.Fatal("a result without a workload parsed")
	}
	if !strings.Contains(r.Text(), "queries 20 (10.0/s)") {
		t.Fatalf("text: %s", r.Text())
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestMedianAndRatio(t *testing.T) {
	if Median(nil) != 0 || Median([]float64{3}) != 3 || Median([]float64{5, 1, 3}) != 3 || Median([]float64{4, 1, 3, 2}) != 2.5 {
		t.Fatal("median")
	}
	res := func(qps, p50 float64) *Result { return &Result{QPS: qps, Latency: Latency{P50: p50}} }
	a := medians([]*Result{res(100, 2), res(300, 1), res(200, 5)}, []map[string]float64{{"x": 1}, {"x": 3}, {"x": 2}})
	b := medians([]*Result{res(400, 1), res(400, 1)}, []map[string]float64{{"x": 4}, {"x": 4}})
	if a.QPS != 200 || a.P50 != 2 || a.Probe["x"] != 2 || b.QPS != 400 || b.Probe["x"] != 4 {
		t.Fatalf("medians a %+v b %+v", a, b)
	}
	r := ratio(a, b)
	if r.QPS != 0.5 || r.P50 != 2 || r.Probe["x"] != 0.5 || r.TPS != 0 {
		t.Fatalf("ratio %+v", r)
	}
}

func TestReportChecks(t *testing.T) {
	cmp := func(threads int, qpsA, qpsB, p50A, p50B, gateCPU, tabletCPU float64) *Comparison {
		c := &Comparison{Workload: "point-select", Threads: threads}
		c.A.Median = Summary{QPS: qpsA, P50: p50A, Probe: map[string]float64{ProbeGate: gateCPU, ProbeTablet: tabletCPU}}
		c.B.Median = Summary{QPS: qpsB, P50: p50B}
		c.Ratio = ratio(c.A.Median, c.B.Median)
		return c
	}
	// Sharded read-write with a stall of 1.5 s in its worst round.
	rw := cmp(8, 2000, 4000, 20, 10, 30, 30)
	rw.Workload = "read-write"
	rw.A.Median.LongestGap, rw.B.Median.LongestGap = 1500, 40
	r := &Report{
		Entries: []Entry{
			{Keyspace: "commerce", Comparison: cmp(8, 6000, 10000, 0.5, 0.3, 20, 30)},
			{Keyspace: "commerce", Comparison: cmp(1, 3000, 5000, 0.4, 0.1, 40, 40)},
			{Keyspace: "customer", Comparison: cmp(8, 1000, 10000, 5, 0.3, 200, 300)},
			{Keyspace: "customer", Comparison: rw},
		},
		Memory: &MemoryFigures{IdleConns: 1000, RSSBeforeMB: 30, RSSWithIdleMB: 60, StreamRows: 1000000, StreamRSSStartMB: 60, StreamRSSPeakMB: 130},
	}
	var got []string
	for _, c := range r.Checks() {
		got = append(got, c.Actual+" "+map[bool]string{true: "ok", false: "over"}[c.OK])
	}
	want := "60.0 % ok|50.0 µs ok|1000.0 % (500.0 / 50.0 µs) over|1500 ms over|300 µs over|60.0 MB ok|70.0 MB over"
	if strings.Join(got, "|") != want {
		t.Fatalf("checks %q, want %q", strings.Join(got, "|"), want)
	}
	md := r.Markdown()
	for _, s := range []string{"## Budget", "| commerce | point-select | 8 | 6000 | 10000 | 60.0 % |", "## Gate memory", "| per idle connection | 30.7 KB |",
		"| customer | read-write | 8 | 2000 | 4000 | 50.0 % |", "| 0/0 | 1500/40 |"} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
	if _, _, _, _, ok := r.FloorPoint(); ok || strings.Contains(md, "forward") {
		t.Fatalf("a report without a floor shows one:\n%s", md)
	}
	// The floor: hops at 8000 QPS against 10000 direct, 12 + 13 µs of CPU.
	floor := &Comparison{Workload: "point-select", Threads: 8}
	floor.A.Median = Summary{QPS: 8000, P50: 0.4, Probe: map[string]float64{ProbeHop1: 12, ProbeHop2: 13}}
	floor.B.Median = Summary{QPS: 10000, P50: 0.3}
	floor.Ratio = ratio(floor.A.Median, floor.B.Median)
	r.Floor = &Entry{Keyspace: "commerce", Comparison: floor}
	hops, cpu, gateOver, threads, ok := r.FloorPoint()
	if !ok || hops != 0.8 || cpu != 25 || gateOver != 0.75 || threads != 8 {
		t.Fatalf("floor point %v %v %v %v %v", hops, cpu, gateOver, threads, ok)
	}
	md = r.Markdown()
	for _, s := range []string{"two hops that only forward bytes (below) reach 80.0 % of direct at 8 threads and spend 25.0 µs", "the gate reaches 75.0 % of their QPS",
		"## Reference: two hops that only forward bytes", "| commerce | point-select | 8 | 8000 | 10000 | 80.0 % | 0.400 | 0.300 | 12.0 | 13.0 | 25.0 |"} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
}

// TestLongestGap: the longest stretch of a window without an event that
// succeeded, from the events of several threads, at the window's edges
// too.
func TestLongestGap(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name string
		ends [][]time.Duration
		want time.Duration
	}{
		{"none", nil, 1000 * ms},
		{"steady", [][]time.Duration{{100 * ms, 300 * ms, 500 * ms, 700 * ms, 900 * ms}, {200 * ms, 400 * ms, 600 * ms, 800 * ms, 1000 * ms}}, 100 * ms},
		{"a stall between threads", [][]time.Duration{{100 * ms, 200 * ms, 900 * ms}, {150 * ms, 950 * ms}}, 700 * ms},
		{"a stall at the start", [][]time.Duration{{600 * ms, 700 * ms, 800 * ms, 900 * ms}}, 600 * ms},
		{"a stall at the end, an event past it", [][]time.Duration{{100 * ms, 200 * ms}, {1300 * ms}}, 800 * ms},
	} {
		if got := longestGap(1000*ms, c.ends); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestForward joins a client to an echo server through Forward, then
// cancels it: Forward returns, and the client's connection is closed.
func TestForward(t *testing.T) {
	echo, err := testports.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	l, err := testports.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var dials atomic.Int32
	go func() {
		done <- Forward(ctx, l, func(ctx context.Context) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, "tcp", echo.Addr().String())
		})
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	msg := bytes.Repeat([]byte("mosaic "), 20000) // more than one buffer
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through the hop: %v (equal %v)", err, bytes.Equal(got, msg))
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d dials for one connection", n)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Forward: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Forward did not return after its context ended")
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the client's connection is still open after Forward returned")
	}
}

func TestProcParsing(t *testing.T) {
	cpu, err := parseStatCPU([]byte("1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 12 0 100 1000 200 18446744073709551615"))
	if err != nil || cpu != 4*time.Second {
		t.Fatalf("cpu %v %v", cpu, err)
	}
	rss, err := parseStatusRSS([]byte("Name:\tgate\nVmPeak:\t 100 kB\nVmRSS:\t   2048 kB\nThreads:\t9\n"))
	if err != nil || rss != 2<<20 {
		t.Fatalf("rss %d %v", rss, err)
	}
	tcp := []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:3BCA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:3BCA 0100007F:D1F2 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
`)
	if got := listeningInodes(tcp, 15306); len(got) != 1 || got[0] != "4242" {
		t.Fatalf("listening inodes %v", got)
	}
}

func TestOwnProcess(t *testing.T) {
	pid := os.Getpid()
	if _, err := ProcCPU(pid); err != nil {
		t.Fatal(err)
	}
	if rss, err := ProcRSS(pid); err != nil || rss <= 0 {
		t.Fatalf("rss %d %v", rss, err)
	}
}

func TestWorkloadNames(t *testing.T) {
	want := "insert point-select read-only read-write scatter-agg tpcc-lite"
	if got := strings.Join(WorkloadNames(), " "); got != want {
		t.Fatalf("workloads %q", got)
	}
	if _, err := NewWorkload("nope", DefaultWorkloadOptions()); err == nil {
		t.Fatal("unknown workload accepted")
	}
	bad := DefaultWorkloadOptions()
	bad.RangeSize = bad.TableSize + 1
	if _, err := NewWorkload("read-only", bad); err == nil {
		t.Fatal("range larger than the table accepted")
	}
}
