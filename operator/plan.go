package operator

import (
	"fmt"
	"sort"

	"github.com/mosaicdb/mosaic/operator/api/v1alpha1"
)

// Tablet is one tablet's identity: what its pod and claim are named and
// labelled after, and what its alias in topo is.
type Tablet struct {
	UID             uint32
	Cell            string
	Keyspace, Shard string
}

// Alias is the tablet's alias in topo, <cell>-<uid>.
func (t Tablet) Alias() string { return alias(t.Cell, t.UID) }

func (t Tablet) String() string {
	return fmt.Sprintf("%s/%s %s", t.Keyspace, t.Shard, t.Alias())
}

// Observed is one tablet as the API server shows it: the union of its pod
// and its claim, which carry the same labels.
type Observed struct {
	Tablet
	// HasPod, HasClaim: the objects exist (a pod being deleted counts as
	// absent: it is recreated once it is gone).
	HasPod, HasClaim bool
	// Ready is the pod's Ready condition.
	Ready bool
	// Terminating: the pod has a deletion timestamp.
	Terminating bool
	// Template is the pod's template hash annotation.
	Template string
}

// Topology is what the operator read from topo: per shard ("ks/shard")
// its primary's alias ("" when it has none yet). Known is false when topo
// could not be read: then nothing that needs the primary (scale down, a
// rolling change of the primary) happens.
type Topology struct {
	Known     bool
	Primaries map[string]string
}

// StepKind is what a rolling step does.
type StepKind int

const (
	// RollPod deletes Tablet's pod, which is then recreated from the
	// current template with the same name and claim.
	RollPod StepKind = iota
	// Reparent moves the shard's primary to Tablet (a ready replica
	// already on the current template) with a planned reparent.
	Reparent
	// InitPrimary makes Tablet the shard's first primary.
	InitPrimary
)

func (k StepKind) String() string {
	return [...]string{"roll-pod", "reparent", "init-primary"}[k]
}

// Step is one action on one tablet.
type Step struct {
	Kind   StepKind
	Tablet Tablet
}

func (s Step) String() string { return fmt.Sprintf("%s %s", s.Kind, s.Tablet) }

// Plan is what the reconciler does.
type Plan struct {
	// Tablets must exist: each gets its claim and pod if missing.
	Tablets []Tablet
	// Remove are tablets a scale-down removes: pod and claim deleted.
	Remove []Tablet
	// Orphans are tablets of shards no longer in the spec: their pods
	// are deleted and their claims kept (the data stays until the user
	// deletes the claims; a resharding workflow's `complete` retires the
	// shards in topo).
	Orphans []Tablet
	// Steps are the rolling and primary actions, at most one per shard.
	Steps []Step
	// Waiting says, per shard, why a scale-down or a rolling change
	// waits ("primary unknown", "tablet zone1-101 not ready").
	Waiting map[string]string
}

// MakePlan decides, from the spec, the observed tablets, the current pod
// template hash of each tablet (template), and topo:
//
//   - every tablet observed for a shard of the spec is kept (a pod or a
//     claim is enough: a deleted pod comes back with the same name and
//     claim, a lost claim comes back empty and the tablet repairs itself
//     from a peer);
//   - a shard with fewer than 1+replicas tablets gets new ones, in the
//     cell that has the fewest of the shard's tablets, on uids free in the
//     shard's block of a hundred (a new shard takes a free block);
//   - a shard with more removes the excess, highest uid first, never its
//     primary, and only when topo is known;
//   - a shard whose tablets are all ready and whose primary is unset
//     gets its lowest-uid tablet as first primary;
//   - a rolling change, per shard, only while every tablet of the shard
//     is ready: replicas on an old template first (lowest uid first, one
//     at a time), then a reparent to a ready replica on the current
//     template, then the old primary, now a replica. A shard without
//     replicas rolls its primary in place (its writes stop until it is
//     back).
func MakePlan(c *v1alpha1.MosaicCluster, observed []Observed, template func(Tablet) string, topo Topology) Plan {
	p := Plan{Waiting: map[string]string{}}
	byShard := map[string][]Observed{}
	used := map[uint32]bool{}
	for _, o := range observed {
		used[o.UID] = true
		if !o.HasPod && !o.HasClaim {
			continue // a claim being deleted: its uid stays taken until it is gone
		}
		k := shardKey(o.Keyspace, o.Shard)
		byShard[k] = append(byShard[k], o)
	}
	inSpec := map[string]bool{}
	cells := make([]string, 0, len(c.Spec.Cells))
	for _, cell := range c.Spec.Cells {
		cells = append(cells, cell.Name)
	}
	for _, ks := range c.Spec.Keyspaces {
		for _, sh := range ks.Shards {
			k := shardKey(ks.Name, sh.Name)
			inSpec[k] = true
			have := byShard[k]
			sort.Slice(have, func(i, j int) bool { return have[i].UID < have[j].UID })
			want := 1 + int(replicas(sh))
			primary, primaryKnown := "", topo.Known
			if topo.Known {
				primary = topo.Primaries[k]
			}
			keep := have
			if len(have) > want {
				if !primaryKnown {
					p.Waiting[k] = "scale down waits: the shard's primary is unknown (topo not read)"
				} else {
					keep, p.Remove = trim(have, want, primary, p.Remove)
				}
			}
			for _, o := range keep {
				p.Tablets = append(p.Tablets, o.Tablet)
			}
			for n := len(keep); n < want; n++ {
				uid, ok := allocate(used, keep)
				if !ok {
					p.Waiting[k] = "no free tablet uid"
					break
				}
				used[uid] = true
				t := Tablet{UID: uid, Cell: leastUsedCell(cells, keep), Keyspace: ks.Name, Shard: sh.Name}
				p.Tablets = append(p.Tablets, t)
				keep = append(keep, Observed{Tablet: t})
			}
			if step, why := shardStep(keep, want, template, topo, primary); step != nil {
				p.Steps = append(p.Steps, *step)
			} else if why != "" && p.Waiting[k] == "" {
				p.Waiting[k] = why
			}
		}
	}
	keys := make([]string, 0, len(byShard))
	for k := range byShard {
		if !inSpec[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, o := range byShard[k] {
			p.Orphans = append(p.Orphans, o.Tablet)
		}
	}
	return p
}

// replicas is a shard's replica count, 2 when unset (the CRD's default).
func replicas(sh v1alpha1.Shard) int32 {
	if sh.Replicas == nil {
		return 2
	}
	return *sh.Replicas
}

// trim keeps want tablets of have (sorted by uid), removing the highest
// uids but never the primary.
func trim(have []Observed, want int, primary string, remove []Tablet) ([]Observed, []Tablet) {
	excess := len(have) - want
	keep := make([]Observed, 0, want)
	for i := len(have) - 1; i >= 0; i-- {
		if excess > 0 && have[i].Alias() != primary {
			remove = append(remove, have[i].Tablet)
			excess--
			continue
		}
		keep = append(keep, have[i])
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].UID < keep[j].UID })
	return keep, remove
}

// allocate returns a free uid for a new tablet of a shard that has the
// tablets have (sorted by uid): the lowest free uid in the block of a hundred of the
// shard's lowest uid, or, for a new shard or a full block, the first uid
// of a block of a hundred nobody uses. Uids run from 100 to 99999.
func allocate(used map[uint32]bool, have []Observed) (uint32, bool) {
	if len(have) > 0 {
		base := have[0].UID / 100 * 100
		for u := max(base, 100); u < base+100; u++ {
			if !used[u] {
				return u, true
			}
		}
	}
	for base := uint32(100); base < 100000; base += 100 {
		free := true
		for u := base; u < base+100 && free; u++ {
			free = !used[u]
		}
		if free {
			return base, true
		}
	}
	return 0, false
}

// leastUsedCell is the cell with the fewest of a shard's tablets keep,
// the first in spec order on a tie.
func leastUsedCell(cells []string, keep []Observed) string {
	count := map[string]int{}
	for _, o := range keep {
		count[o.Cell]++
	}
	best := cells[0]
	for _, c := range cells[1:] {
		if count[c] < count[best] {
			best = c
		}
	}
	return best
}

// shardStep is the next primary or rolling action of one shard whose
// tablets are keep (sorted by uid, new ones without pods), or why none.
func shardStep(keep []Observed, want int, template func(Tablet) string, topo Topology, primary string) (*Step, string) {
	if len(keep) < want {
		return nil, ""
	}
	for _, o := range keep {
		if !o.HasPod || o.Terminating || !o.Ready {
			return nil, fmt.Sprintf("tablet %s not ready", o.Alias())
		}
	}
	if !topo.Known {
		return nil, "topo not read"
	}
	if primary == "" {
		return &Step{Kind: InitPrimary, Tablet: keep[0].Tablet}, ""
	}
	var oldPrimary *Observed
	var fresh []Observed
	for i, o := range keep {
		current := o.Template == template(o.Tablet)
		switch {
		case o.Alias() == primary && !current:
			oldPrimary = &keep[i]
		case o.Alias() != primary && !current:
			return &Step{Kind: RollPod, Tablet: o.Tablet}, ""
		case o.Alias() != primary:
			fresh = append(fresh, o)
		}
	}
	if oldPrimary == nil {
		return nil, ""
	}
	if len(fresh) == 0 {
		if len(keep) == 1 {
			return &Step{Kind: RollPod, Tablet: oldPrimary.Tablet}, ""
		}
		return nil, "no ready replica on the current template to reparent to"
	}
	// Prefer a replica in the old primary's cell: gates of that cell keep
	// their local primary.
	to := fresh[0]
	for _, o := range fresh {
		if o.Cell == oldPrimary.Cell {
			to = o
			break
		}
	}
	return &Step{Kind: Reparent, Tablet: to.Tablet}, ""
}
