package backupstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Archived binlogs. A primary's tablet streams its binlog into segments:
// each is a binlog file (the server's format description event, then
// whole transactions) holding the transactions with GTID sequence numbers
// First..Last of domain 0 that the primary of one term wrote or received.
// Segments are named so that one List gives the whole index:
//
//	<keyspace>/<shard>/binlogs/<first>-<last>-<term>-<first unix>-<last unix>.binlog
//
// (numbers zero-padded, term being the primary's term start in unix
// nanoseconds) and published by their manifest (.json beside), written
// last. A new primary's archiver continues where the archive ends when its
// binlog holds that point, so consecutive segments chain without gap or
// overlap; when a failover lost transactions that were archived (the old
// primary wrote them but no replica got them), the new term starts again
// from an earlier segment boundary and its segments supersede the old
// term's from there on (Chain).

// Segment describes one archived binlog segment.
type Segment struct {
	Keyspace string `json:"keyspace"`
	Shard    string `json:"shard"`
	Tablet   string `json:"tablet"`
	// Term is the primary's term start (unix nanoseconds).
	Term int64 `json:"term"`
	// First and Last are the GTID sequence numbers (domain 0) of the first
	// and last transactions in it.
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
	// Prev is the GTID position before the segment, End the one after its
	// last transaction.
	Prev string `json:"prev"`
	End  string `json:"end"`
	// FirstTime and LastTime are the binlog timestamps (whole seconds) of
	// the first and last transactions.
	FirstTime time.Time `json:"first_time"`
	LastTime  time.Time `json:"last_time"`
	// Transactions counts the transactions in it.
	Transactions int      `json:"transactions"`
	Data         Encoding `json:"data"`
}

func binlogPrefix(keyspace, shard string) string {
	return keyspace + "/" + shard + "/binlogs/"
}

// baseName is the segment's name without extension.
func (g Segment) baseName() string {
	return fmt.Sprintf("%s%020d-%020d-%020d-%012d-%012d", binlogPrefix(g.Keyspace, g.Shard),
		g.First, g.Last, g.Term, g.FirstTime.Unix(), g.LastTime.Unix())
}

// DataName is the object holding the segment's binlog.
func (g Segment) DataName() string { return g.baseName() + ".binlog" }

func (g Segment) manifestName() string { return g.baseName() + ".json" }

// parseSegmentName reads the index fields from a manifest's name.
func parseSegmentName(keyspace, shard, name string) (Segment, bool) {
	rest, ok := strings.CutPrefix(name, binlogPrefix(keyspace, shard))
	if !ok {
		return Segment{}, false
	}
	rest, ok = strings.CutSuffix(rest, ".json")
	if !ok {
		return Segment{}, false
	}
	f := strings.Split(rest, "-")
	if len(f) != 5 {
		return Segment{}, false
	}
	var n [5]int64
	for i, s := range f {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return Segment{}, false
		}
		n[i] = int64(v)
	}
	return Segment{Keyspace: keyspace, Shard: shard, First: uint64(n[0]), Last: uint64(n[1]), Term: n[2],
		FirstTime: time.Unix(n[3], 0).UTC(), LastTime: time.Unix(n[4], 0).UTC()}, true
}

// PutSegment publishes a segment whose data is stored already.
func PutSegment(ctx context.Context, s Store, g Segment) error {
	if err := checkShard(g.Keyspace, g.Shard); err != nil {
		return err
	}
	if g.First == 0 || g.Last < g.First {
		return fmt.Errorf("backupstore: bad segment range %d-%d", g.First, g.Last)
	}
	return putJSON(ctx, s, g.manifestName(), g)
}

// ListSegments returns the index of a shard's archived segments (fields
// from their names only: Prev, End, Tablet, Transactions and Data are not
// filled in; ReadSegment reads them), sorted by First, then Term.
func ListSegments(ctx context.Context, s Store, keyspace, shard string) ([]Segment, error) {
	if err := checkShard(keyspace, shard); err != nil {
		return nil, err
	}
	objs, err := s.List(ctx, binlogPrefix(keyspace, shard))
	if err != nil {
		return nil, err
	}
	data := map[string]bool{}
	for _, o := range objs {
		if strings.HasSuffix(o.Name, ".binlog") {
			data[o.Name] = true
		}
	}
	var out []Segment
	for _, o := range objs {
		g, ok := parseSegmentName(keyspace, shard, o.Name)
		if ok && data[g.DataName()] {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].First != out[j].First {
			return out[i].First < out[j].First
		}
		return out[i].Term < out[j].Term
	})
	return out, nil
}

// ReadSegment reads a listed segment's manifest.
func ReadSegment(ctx context.Context, s Store, g Segment) (Segment, error) {
	var full Segment
	if err := getJSON(ctx, s, g.manifestName(), &full); err != nil {
		return Segment{}, err
	}
	if full.First != g.First || full.Last != g.Last || full.Term != g.Term {
		return Segment{}, fmt.Errorf("backupstore: segment manifest %s does not match its name", g.manifestName())
	}
	return full, nil
}

// DeleteSegment removes a segment, its manifest first.
func DeleteSegment(ctx context.Context, s Store, g Segment) error {
	if err := s.Delete(ctx, g.manifestName()); err != nil {
		return err
	}
	return s.Delete(ctx, g.DataName())
}

// ErrArchiveGap is returned when the archive lacks transactions a restore
// needs.
var ErrArchiveGap = errors.New("the binlog archive does not cover it")

// Timeline returns the archive's history: the segments in order of their
// transactions, a later term's segments superseding an earlier term's from
// the later term's first transaction on. It fails when a later term starts
// inside an earlier term's segment (the archive could not say which
// transactions of that segment count).
func Timeline(all []Segment) ([]Segment, error) {
	byTerm := map[int64][]Segment{}
	var terms []int64
	for _, g := range all {
		if _, ok := byTerm[g.Term]; !ok {
			terms = append(terms, g.Term)
		}
		byTerm[g.Term] = append(byTerm[g.Term], g)
	}
	sort.Slice(terms, func(i, j int) bool { return terms[i] < terms[j] })
	var line []Segment
	for _, t := range terms {
		segs := byTerm[t]
		sort.Slice(segs, func(i, j int) bool { return segs[i].First < segs[j].First })
		start := segs[0].First
		// Drop what this term supersedes.
		keep := line[:0]
		for _, g := range line {
			switch {
			case g.Last < start:
				keep = append(keep, g)
			case g.First < start:
				return nil, fmt.Errorf("backupstore: term %d's archive starts at transaction %d, inside segment %d-%d of term %d", t, start, g.First, g.Last, g.Term)
			}
		}
		line = append(keep, segs...)
	}
	return line, nil
}

// Chain returns the segments that replay the transactions after seq from
// up to and including seq to (0: to the end of the archive), in order,
// from a Timeline. It fails with ErrArchiveGap when the archive has a gap
// in that range or does not reach it.
func Chain(line []Segment, from, to uint64) ([]Segment, error) {
	var out []Segment
	next := from + 1
	for _, g := range line {
		if g.Last < next {
			continue
		}
		if to != 0 && next > to {
			break
		}
		if g.First > next {
			return nil, fmt.Errorf("%w: transactions %d to %d are missing (the next segment starts at %d)", ErrArchiveGap, next, g.First-1, g.First)
		}
		out = append(out, g)
		next = g.Last + 1
	}
	if to != 0 && next <= to {
		return nil, fmt.Errorf("%w: it ends at transaction %d, before %d", ErrArchiveGap, next-1, to)
	}
	return out, nil
}

// SeqOf returns the domain 0 sequence number of a MariaDB GTID position
// ("0-101-42", or empty for none). Mosaic's servers write domain 0 only;
// a position with another domain is refused.
func SeqOf(pos string) (uint64, error) {
	var seq uint64
	for _, g := range strings.Split(strings.TrimSpace(pos), ",") {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		f := strings.Split(g, "-")
		if len(f) != 3 {
			return 0, fmt.Errorf("backupstore: bad GTID %q", g)
		}
		if f[0] != "0" {
			return 0, fmt.Errorf("backupstore: GTID %q is not of domain 0, the only one Mosaic writes", g)
		}
		v, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("backupstore: bad GTID %q", g)
		}
		seq = v
	}
	return seq, nil
}
