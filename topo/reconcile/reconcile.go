package reconcile

import (
	"fmt"
	"sort"
)

// Config says what the reconciler runs per shard.
type Config struct {
	// Replicas per shard besides the primary.
	Replicas int
	// MinUID and MaxUID bound the uids of new tablets (MaxUID excluded).
	MinUID, MaxUID uint32
}

// DefaultConfig runs one replica per shard with uids from 100 to 999.
func DefaultConfig() Config {
	return Config{Replicas: 1, MinUID: 100, MaxUID: 1000}
}

// Validate checks a Config.
func (c Config) Validate() error {
	if c.Replicas < 0 {
		return fmt.Errorf("reconcile: %d replicas", c.Replicas)
	}
	if c.MinUID >= c.MaxUID || c.MinUID%10 != 0 {
		return fmt.Errorf("reconcile: uid range [%d, %d) must be non-empty and start at a multiple of 10", c.MinUID, c.MaxUID)
	}
	return nil
}

// Shard is one shard record in topo.
type Shard struct {
	Keyspace, Shard string
	// HasPrimary is set when the record names a primary, or named one
	// (a failover is under way): the reconciler leaves it alone then.
	HasPrimary bool
}

// Tablet is one tablet: the reconciler's own, or one in topo run by
// someone else.
type Tablet struct {
	UID             uint32
	Keyspace, Shard string
	// Owned: the reconciler runs it. Registered: its record is in topo.
	Owned, Registered bool
	// Running: the reconciler's process for it runs (owned tablets).
	Running bool
}

// Kind is what an action does.
type Kind int

const (
	// Start runs an owned tablet: a new one, or one of the reconciler's
	// whose process does not run.
	Start Kind = iota
	// Stop stops an owned tablet whose shard is gone and forgets it.
	Stop
	// InitPrimary makes Tablet the first primary of its shard.
	InitPrimary
)

func (k Kind) String() string {
	return [...]string{"start", "stop", "init-primary"}[k]
}

// Action is one step for the caller to run.
type Action struct {
	Kind   Kind
	Tablet Tablet
}

func (a Action) String() string {
	return fmt.Sprintf("%s %s/%s uid %d", a.Kind, a.Tablet.Keyspace, a.Tablet.Shard, a.Tablet.UID)
}

// Decide returns the actions that bring the reconciler's tablets to what
// topo wants, in a stable order (stops, starts, inits; by keyspace and
// shard):
//
//   - an owned tablet whose shard record is gone stops;
//   - an owned tablet of an existing shard that does not run starts;
//   - a shard without any tablet, owned or not, gets 1+Replicas new ones,
//     on uids free among all of them, consecutive, in a block of their
//     own (see allocate);
//   - a shard without a primary whose tablets are all owned and all
//     registered gets its lowest-uid tablet as primary.
//
// Shards it cannot place for want of uids are reported in the error; the
// actions for the others are returned all the same.
func Decide(cfg Config, shards []Shard, tablets []Tablet) ([]Action, error) {
	key := func(ks, sh string) string { return ks + "/" + sh }
	exists := map[string]Shard{}
	for _, s := range shards {
		exists[key(s.Keyspace, s.Shard)] = s
	}
	byShard := map[string][]Tablet{}
	used := map[uint32]bool{}
	for _, t := range tablets {
		used[t.UID] = true
		byShard[key(t.Keyspace, t.Shard)] = append(byShard[key(t.Keyspace, t.Shard)], t)
	}
	var stops, starts, inits []Action
	sorted := append([]Tablet(nil), tablets...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].UID < sorted[j].UID })
	for _, t := range sorted {
		if !t.Owned {
			continue
		}
		if _, ok := exists[key(t.Keyspace, t.Shard)]; !ok {
			stops = append(stops, Action{Kind: Stop, Tablet: t})
		} else if !t.Running {
			starts = append(starts, Action{Kind: Start, Tablet: t})
		}
	}
	ordered := append([]Shard(nil), shards...)
	sort.Slice(ordered, func(i, j int) bool {
		if ordered[i].Keyspace != ordered[j].Keyspace {
			return ordered[i].Keyspace < ordered[j].Keyspace
		}
		return ordered[i].Shard < ordered[j].Shard
	})
	var unplaced []string
	n := 1 + cfg.Replicas
	for _, s := range ordered {
		ts := byShard[key(s.Keyspace, s.Shard)]
		if len(ts) == 0 {
			base, ok := allocate(cfg, used, n)
			if !ok {
				unplaced = append(unplaced, key(s.Keyspace, s.Shard))
				continue
			}
			for i := 0; i < n; i++ {
				uid := base + uint32(i)
				used[uid] = true
				starts = append(starts, Action{Kind: Start, Tablet: Tablet{UID: uid, Keyspace: s.Keyspace, Shard: s.Shard, Owned: true}})
			}
			continue
		}
		if s.HasPrimary {
			continue
		}
		first, ready := ts[0], true
		for _, t := range ts {
			ready = ready && t.Owned && t.Registered && t.Running
			if t.UID < first.UID {
				first = t
			}
		}
		if ready {
			inits = append(inits, Action{Kind: InitPrimary, Tablet: first})
		}
	}
	out := append(append(stops, starts...), inits...)
	if len(unplaced) > 0 {
		return out, fmt.Errorf("no %d free consecutive tablet uids in [%d, %d) for shards %v", n, cfg.MinUID, cfg.MaxUID, unplaced)
	}
	return out, nil
}

// allocate returns the first uid of n free consecutive uids for a new
// shard's tablets. Blocks of a hundred come first (100, 200, ...: the
// tablets of one shard share their hundreds, as in the local cluster's
// first layout), then blocks of ten (110, 120, ...) when n fits in ten.
func allocate(cfg Config, used map[uint32]bool, n int) (uint32, bool) {
	free := func(base uint32, size uint32) bool {
		if base < cfg.MinUID || base+uint32(n) > cfg.MaxUID || uint32(n) > size {
			return false
		}
		for u := base; u < base+size && u < cfg.MaxUID; u++ {
			if used[u] {
				return false
			}
		}
		return true
	}
	start := (cfg.MinUID + 99) / 100 * 100
	for base := start; base < cfg.MaxUID; base += 100 {
		if free(base, 100) {
			return base, true
		}
	}
	for base := cfg.MinUID; base < cfg.MaxUID; base += 10 {
		if free(base, 10) {
			return base, true
		}
	}
	return 0, false
}
