package failover

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// The failure detector's decisions are a pure function, decide: the state
// it knows, one event and the time in, the actions to take out. It does no
// I/O, starts no goroutine and reads no clock; the Controller's loop
// (controller.go) turns watches, health streams, probes and finished
// reparents into events and carries the actions out. testdata/*.txt holds
// scripts of events and the actions each must produce (decide_test.go).

// state is what the detector knows.
type state struct {
	cfg     Config
	started time.Time
	// shardsLoaded and leasesLoaded say both watches delivered their first
	// state: before that a shard may look leaderless.
	shardsLoaded, leasesLoaded bool
	shards                     map[string]*shardState // by "keyspace/shard"
}

// shardState is what the detector knows of one shard.
type shardState struct {
	key string
	// primary and term are what the shard record names ("" and 0: none).
	primary string
	term    int64
	// primarySince is when the record started naming primary.
	primarySince time.Time
	// leaseHolder holds the shard's primary lease ("" none).
	leaseHolder string
	// unresponsiveSince is when the primary's health first said its mysqld
	// does not answer, zero while it answers.
	unresponsiveSince time.Time
	healthySeen       bool
	following         string // primary whose health is followed
	acting            bool   // a reparent runs
	nextTry           time.Time
}

func newState(cfg Config, now time.Time) *state {
	return &state{cfg: cfg, started: now, shards: map[string]*shardState{}}
}

// Events.
type (
	event interface{ isEvent() }
	// evShard: the shard record of key names primary with term (a deleted
	// record names none).
	evShard struct {
		key, primary string
		term         int64
	}
	// evShardsLoaded: the shard watch delivered every record.
	evShardsLoaded struct{}
	// evLeases: the lease watch (re)started with these holders, by key.
	evLeases struct{ holders map[string]string }
	// evLease: key's lease is held by holder now ("" gone).
	evLease struct{ key, holder string }
	// evHealth: alias, followed as key's primary, says whether its mysqld
	// answers.
	evHealth struct {
		key, alias   string
		unresponsive bool
	}
	// evHealthLost: alias's health stream broke or went silent.
	evHealthLost struct{ key, alias string }
	// evDead: alias's gRPC and mysqld ports refuse connections.
	evDead struct{ key, alias string }
	// evReparentDone: the reparent of key ended.
	evReparentDone struct {
		key    string
		result reparentResult
	}
	// evTick: time passed.
	evTick struct{}
)

func (evShard) isEvent()        {}
func (evShardsLoaded) isEvent() {}
func (evLeases) isEvent()       {}
func (evLease) isEvent()        {}
func (evHealth) isEvent()       {}
func (evHealthLost) isEvent()   {}
func (evDead) isEvent()         {}
func (evReparentDone) isEvent() {}
func (evTick) isEvent()         {}

// reparentResult is how a reparent ended.
type reparentResult int

const (
	reparentDone    reparentResult = iota
	reparentFailed                 // to be tried again after RetryInterval
	reparentSkipped                // the primary was fine under the shard lock
)

// Actions.
type (
	action interface{ String() string }
	// actFollow: follow alias's health as key's primary.
	actFollow struct{ key, alias string }
	// actUnfollow: stop following alias.
	actUnfollow struct{ key, alias string }
	// actBreakLease: delete key's lease if alias still holds it.
	actBreakLease struct{ key, alias string }
	// actReparent: run an emergency reparent of key; hung says the
	// primary holds its lease but its mysqld does not answer.
	actReparent struct {
		key, primary string
		hung         bool
	}
)

func (a actFollow) String() string     { return "follow " + a.key + " " + a.alias }
func (a actUnfollow) String() string   { return "unfollow " + a.key + " " + a.alias }
func (a actBreakLease) String() string { return "break-lease " + a.key + " " + a.alias }
func (a actReparent) String() string {
	why := "down"
	if a.hung {
		why = "hung"
	}
	return fmt.Sprintf("reparent %s primary=%s why=%s", a.key, orNone(a.primary), why)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// decide applies ev at now to s and returns what to do.
func decide(s *state, ev event, now time.Time) []action {
	switch e := ev.(type) {
	case evShard:
		sh := s.shard(e.key)
		if sh == nil {
			return nil
		}
		if sh.primary != e.primary {
			sh.unresponsiveSince = time.Time{}
			sh.primarySince = now
		}
		sh.primary, sh.term = e.primary, e.term
		return s.evaluate(now, sh)
	case evShardsLoaded:
		s.shardsLoaded = true
		return s.evaluateAll(now)
	case evLeases:
		for _, sh := range s.shards {
			sh.leaseHolder = ""
		}
		for key, holder := range e.holders {
			if sh := s.shard(key); sh != nil {
				sh.leaseHolder = holder
			}
		}
		s.leasesLoaded = true
		return s.evaluateAll(now)
	case evLease:
		sh := s.shard(e.key)
		if sh == nil {
			return nil
		}
		sh.leaseHolder = e.holder
		return s.evaluate(now, sh)
	case evHealth:
		sh := s.shards[e.key]
		if sh == nil || sh.primary != e.alias {
			return nil // stale: the record names another primary now
		}
		switch {
		case !e.unresponsive:
			sh.unresponsiveSince = time.Time{}
		case sh.unresponsiveSince.IsZero():
			sh.unresponsiveSince = now
		}
		return s.evaluate(now, sh)
	case evHealthLost:
		// What the primary said last is not known to hold any more; the
		// lease decides while its health cannot be read.
		if sh := s.shards[e.key]; sh != nil && sh.primary == e.alias {
			sh.unresponsiveSince = time.Time{}
		}
		return nil
	case evDead:
		sh := s.shards[e.key]
		if sh == nil || sh.primary != e.alias || sh.leaseHolder != e.alias {
			return nil
		}
		//lint:ignore S1016 an event and an action that happen to have the same fields: a conversion would tie the two types together.
		return []action{actBreakLease{key: e.key, alias: e.alias}}
	case evReparentDone:
		sh := s.shards[e.key]
		if sh == nil {
			return nil
		}
		sh.acting = false
		switch e.result {
		case reparentDone:
			// The record names the new primary by now; until its event
			// arrives, the old one's silence must not count again.
			sh.unresponsiveSince = time.Time{}
		case reparentFailed:
			sh.nextTry = now.Add(s.cfg.RetryInterval)
		case reparentSkipped:
			// Its mysqld answered under the lock: start the grace anew
			// from its next report, and do not ask again at once.
			sh.unresponsiveSince = time.Time{}
			sh.nextTry = now.Add(s.cfg.RetryInterval)
		}
		return s.evaluate(now, sh)
	case evTick:
		return s.evaluateAll(now)
	}
	return nil
}

// shard returns key's state, made on first use, or nil for a keyspace the
// detector does not watch.
func (s *state) shard(key string) *shardState {
	if sh := s.shards[key]; sh != nil {
		return sh
	}
	ks, _, _ := strings.Cut(key, "/")
	if len(s.cfg.Keyspaces) > 0 && !contains(s.cfg.Keyspaces, ks) {
		return nil
	}
	sh := &shardState{key: key}
	s.shards[key] = sh
	return sh
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// evaluateAll evaluates every shard, in key order.
func (s *state) evaluateAll(now time.Time) []action {
	keys := make([]string, 0, len(s.shards))
	for k := range s.shards {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []action
	for _, k := range keys {
		out = append(out, s.evaluate(now, s.shards[k])...)
	}
	return out
}

// healthy reports whether the primary the record names holds the lease.
func (sh *shardState) healthy() bool {
	return sh.primary != "" && sh.leaseHolder == sh.primary
}

// newPrimaryLeaseGrace is how long a primary the shard record has just
// named may go without the lease before the shard counts as down.
const newPrimaryLeaseGrace = 2 * time.Second

// evaluate follows the shard's primary and starts the failover due, if
// any: the shard had a primary (a term) and the one the record names does
// not hold the lease, or holds it while its mysqld has not answered for
// UnresponsiveGrace.
func (s *state) evaluate(now time.Time, sh *shardState) []action {
	if !s.shardsLoaded || !s.leasesLoaded {
		return nil
	}
	var out []action
	if sh.following != sh.primary {
		if sh.following != "" {
			out = append(out, actUnfollow{key: sh.key, alias: sh.following})
		}
		if sh.primary != "" {
			out = append(out, actFollow{key: sh.key, alias: sh.primary})
		}
		sh.following = sh.primary
	}
	healthy := sh.healthy()
	if healthy {
		sh.healthySeen = true
	}
	hung := healthy && s.cfg.UnresponsiveGrace > 0 && !sh.unresponsiveSince.IsZero() &&
		now.Sub(sh.unresponsiveSince) >= s.cfg.UnresponsiveGrace
	down := sh.term != 0 && (!healthy || hung)
	// A primary the record has just named takes its lease a moment later
	// (the reparent writes the record, then promotes it).
	leaseDue := sh.primary == "" || now.Sub(sh.primarySince) >= newPrimaryLeaseGrace
	if !down || !leaseDue || sh.acting || now.Before(sh.nextTry) {
		return out
	}
	if !sh.healthySeen && now.Sub(s.started) < s.cfg.StartupGrace {
		return out
	}
	sh.acting = true
	return append(out, actReparent{key: sh.key, primary: sh.primary, hung: hung})
}

// counts returns how many watched shards are healthy (the primary the
// record names holds the lease and its mysqld answers), unresponsive (it
// holds the lease and its mysqld does not answer) and down.
func (s *state) counts() (healthy, unresponsive, down int) {
	for _, sh := range s.shards {
		switch {
		case !sh.healthy():
			down++
		case !sh.unresponsiveSince.IsZero():
			unresponsive++
		default:
			healthy++
		}
	}
	return healthy, unresponsive, down
}
