package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

// RunOptions say how hard and how long to drive a workload.
type RunOptions struct {
	// Threads is the number of load threads, each with its own connection.
	Threads int
	// Duration is how long the measured part of the run lasts.
	Duration time.Duration
	// Warmup runs the load this long before measuring.
	Warmup time.Duration
	// Rate caps the events per second of all threads together (0: as fast
	// as they go). Latency is then measured from each event's scheduled
	// start, so that a stall counts for every event it delays.
	Rate float64
	// Label names the endpoint in reports ("gate", "direct").
	Label string
	// Seed seeds the threads' random sources (0: from the clock).
	Seed uint64
}

// Validate checks the options.
func (o RunOptions) Validate() error {
	switch {
	case o.Threads < 1:
		return fmt.Errorf("threads %d: need at least 1", o.Threads)
	case o.Duration <= 0:
		return fmt.Errorf("duration %v: must be positive", o.Duration)
	case o.Warmup < 0 || o.Rate < 0:
		return errors.New("warmup and rate must not be negative")
	}
	return nil
}

// maxErrorSamples bounds the distinct error messages a result keeps.
const maxErrorSamples = 5

// threadStats is what one load thread counted.
type threadStats struct {
	hist       Histogram
	events     uint64
	queries    uint64
	errors     uint64
	reconnects uint64
	codes      map[string]uint64
	samples    []string
	// ok are the ends of the measured events that succeeded, in order,
	// as offsets from the start of the measured window.
	ok []time.Duration
}

func (s *threadStats) recordError(err error) {
	s.errors++
	code := "other"
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		code = strconv.Itoa(int(me.Number))
	}
	if s.codes == nil {
		s.codes = map[string]uint64{}
	}
	s.codes[code]++
	if len(s.samples) < maxErrorSamples {
		s.samples = append(s.samples, err.Error())
	}
}

// Run drives w against db with opts.Threads connections and returns what
// it measured. Failed events are counted, not fatal: the run goes on.
// Run fails only when it cannot connect or ctx ends.
func Run(ctx context.Context, db *sql.DB, w Workload, opts RunOptions) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(opts.Threads + 1)
	db.SetMaxIdleConns(opts.Threads + 1)
	if s, ok := w.(Starter); ok {
		if err := s.Start(ctx, db); err != nil {
			return nil, err
		}
	}
	conns := make([]*sql.Conn, opts.Threads)
	for i := range conns {
		c, err := db.Conn(ctx)
		if err == nil {
			err = c.PingContext(ctx)
		}
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return nil, fmt.Errorf("connect: %w", err)
		}
		conns[i] = c
	}
	seed := opts.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	start := time.Now()
	measureFrom := start.Add(opts.Warmup)
	end := measureFrom.Add(opts.Duration)
	var next atomic.Int64 // scheduled start of the next event, ns since start
	var interval time.Duration
	if opts.Rate > 0 {
		interval = time.Duration(float64(time.Second) / opts.Rate)
	}
	stats := make([]*threadStats, opts.Threads)
	var wg sync.WaitGroup
	for i := range opts.Threads {
		st := &threadStats{}
		stats[i] = st
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			worker := w.NewWorker(i, rng)
			conn := conns[i]
			defer func() { conn.Close() }()
			for ctx.Err() == nil {
				began := time.Now()
				if interval > 0 {
					sched := start.Add(time.Duration(next.Add(int64(interval)) - int64(interval)))
					if sched.After(end) {
						return
					}
					if d := time.Until(sched); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							return
						}
					}
					began = sched
				}
				if !began.Before(end) {
					return
				}
				n, err := worker.Event(ctx, conn)
				done := time.Now()
				if ctx.Err() != nil {
					return
				}
				measured := !began.Before(measureFrom)
				if measured {
					st.queries += uint64(n)
					if err != nil {
						st.recordError(err)
					} else {
						st.events++
						st.hist.Record(done.Sub(began))
						st.ok = append(st.ok, done.Sub(measureFrom))
					}
				}
				if err != nil && conn.PingContext(ctx) != nil {
					// The connection is gone (a killed session, a restarted
					// server): take a new one and go on.
					conn.Close()
					c, cerr := db.Conn(ctx)
					if cerr != nil {
						return
					}
					conn = c
					if measured {
						st.reconnects++
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Events that started in the measured window count, over its length.
	return summarize(w.Name(), opts, opts.Duration, stats), nil
}

func summarize(workload string, opts RunOptions, elapsed time.Duration, stats []*threadStats) *Result {
	var h Histogram
	r := &Result{Workload: workload, Label: opts.Label, Threads: opts.Threads, Rate: opts.Rate, Seconds: elapsed.Seconds()}
	for _, st := range stats {
		h.Merge(&st.hist)
		r.Events += st.events
		r.Queries += st.queries
		r.Errors += st.errors
		r.Reconnects += st.reconnects
		for c, n := range st.codes {
			if r.ErrorCodes == nil {
				r.ErrorCodes = map[string]uint64{}
			}
			r.ErrorCodes[c] += n
		}
		for _, s := range st.samples {
			if len(r.ErrorSamples) < maxErrorSamples {
				r.ErrorSamples = append(r.ErrorSamples, s)
			}
		}
	}
	secs := elapsed.Seconds()
	r.QPS = float64(r.Queries) / secs
	r.TPS = float64(r.Events) / secs
	var ends [][]time.Duration
	for _, st := range stats {
		ends = append(ends, st.ok)
	}
	r.LongestGapMs = ms(longestGap(elapsed, ends))
	r.Latency = Latency{
		P50:  ms(h.Quantile(0.50)),
		P95:  ms(h.Quantile(0.95)),
		P99:  ms(h.Quantile(0.99)),
		Max:  ms(h.Max()),
		Mean: ms(h.Mean()),
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// longestGap returns the longest stretch of a measured window of length
// window in which no event succeeded: between the window's start, the
// ends of the events that succeeded (offsets from the start, each
// thread's in order; an event that ended after the window counts at its
// end) and the window's end. A stall of the whole system shows here even
// when the rate over the window looks fine.
func longestGap(window time.Duration, ends [][]time.Duration) time.Duration {
	var all []time.Duration
	for _, e := range ends {
		all = append(all, e...)
	}
	slices.Sort(all)
	var longest, last time.Duration
	for _, t := range all {
		t = min(max(t, 0), window)
		longest = max(longest, t-last)
		last = t
	}
	return max(longest, window-last)
}
