package router

import (
	"sort"
	"sync/atomic"
	"time"
)

// PlanStats records how a plan runs. Every copy of a cached plan the
// router hands out points to the same PlanStats: the proxy records each
// execution into it, and CachedPlans reports it. Safe for concurrent use.
type PlanStats struct {
	// query is the normalized statement, for reports.
	query  string
	execs  atomic.Uint64
	errors atomic.Uint64
	rows   atomic.Uint64
	nanos  atomic.Uint64
	large  atomic.Bool
}

// Record counts one execution that took d and returned (or changed) rows
// rows; failed says it ended in an error.
func (s *PlanStats) Record(d time.Duration, rows uint64, failed bool) {
	s.execs.Add(1)
	s.nanos.Add(uint64(d))
	s.rows.Add(rows)
	if failed {
		s.errors.Add(1)
	}
}

// Execs is the number of executions recorded.
func (s *PlanStats) Execs() uint64 { return s.execs.Load() }

// MarkLarge records that a result of the plan was too large to travel in
// one message; Large reports whether that ever happened. The proxy asks
// for whole results of plans whose results have all been small, and
// streams the others.
func (s *PlanStats) MarkLarge() { s.large.Store(true) }

// Large reports whether MarkLarge was called.
func (s *PlanStats) Large() bool { return s.large.Load() }

// CachedPlan describes one plan in the plan cache and its executions.
type CachedPlan struct {
	// Keyspace is the session keyspace the plan was made for.
	Keyspace string
	// Query is the normalized statement: literals are bind variables.
	Query string
	// StmtType and Type are the plan's statement and plan types.
	StmtType, Type string
	Execs, Errors  uint64
	// Rows counts the rows returned or changed over every execution.
	Rows uint64
	// Time is the time spent in every execution together.
	Time time.Duration
}

// CachedPlans returns every plan in the plan cache with its counters,
// busiest (most executions) first: the normalized plans, and the shapes of
// statements sent to unsharded keyspaces as they were written.
func (r *Router) CachedPlans() []CachedPlan {
	var out []CachedPlan
	r.plans.each(func(key string, p *Plan) {
		ks, _, _ := cutNUL(key)
		cp := CachedPlan{Keyspace: ks, StmtType: p.StmtType, Type: p.Type}
		if s := p.Stats; s != nil {
			cp.Query = s.query
			cp.Execs, cp.Errors, cp.Rows = s.execs.Load(), s.errors.Load(), s.rows.Load()
			cp.Time = time.Duration(s.nanos.Load())
		}
		out = append(out, cp)
	})
	// Statements passed through unchanged are cached by shape.
	r.shapes.each(func(key string, e *shapeEntry) {
		if e.passthrough == nil {
			return
		}
		ks, _, _ := cutNUL(key)
		p, st := e.plan, e.plan.Stats
		out = append(out, CachedPlan{Keyspace: ks, StmtType: p.StmtType, Type: p.Type, Query: st.query,
			Execs: st.execs.Load(), Errors: st.errors.Load(), Rows: st.rows.Load(), Time: time.Duration(st.nanos.Load())})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Execs > out[j].Execs })
	return out
}

// cutNUL splits a cache key "<keyspace>\x00<text>".
func cutNUL(key string) (string, string, bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == 0 {
			return key[:i], key[i+1:], true
		}
	}
	return "", key, false
}

// passthroughShapes counts the shapes of statements sent as written.
func (r *Router) passthroughShapes() int {
	n := 0
	r.shapes.each(func(_ string, e *shapeEntry) {
		if e.passthrough != nil {
			n++
		}
	})
	return n
}
