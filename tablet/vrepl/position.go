package vrepl

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// GTID is one MariaDB global transaction id: domain-server-sequence.
type GTID struct {
	Domain, Server uint32
	Seq            uint64
}

func (g GTID) String() string {
	return fmt.Sprintf("%d-%d-%d", g.Domain, g.Server, g.Seq)
}

// Position is a MariaDB GTID position (gtid_binlog_pos, slave_connect_state):
// the last transaction of each replication domain. With gtid_strict_mode
// a domain's sequence numbers only grow, whichever server wrote them, so
// positions are compared by sequence number per domain. The zero value is
// the empty position (before everything). A Position is immutable.
type Position struct {
	last map[uint32]GTID
}

// ParsePosition reads "0-101-7,1-102-3" (or "" for the empty position).
func ParsePosition(s string) (Position, error) {
	p := Position{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.Split(part, "-")
		if len(f) != 3 {
			return Position{}, fmt.Errorf("bad GTID %q in position %q", part, s)
		}
		d, err1 := strconv.ParseUint(f[0], 10, 32)
		sv, err2 := strconv.ParseUint(f[1], 10, 32)
		seq, err3 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return Position{}, fmt.Errorf("bad GTID %q in position %q", part, s)
		}
		if p.last == nil {
			p.last = map[uint32]GTID{}
		}
		if _, dup := p.last[uint32(d)]; dup {
			return Position{}, fmt.Errorf("position %q names domain %d twice", s, d)
		}
		p.last[uint32(d)] = GTID{Domain: uint32(d), Server: uint32(sv), Seq: seq}
	}
	return p, nil
}

// MustParsePosition is ParsePosition for positions known to be good
// (tests, constants); it panics on a bad one.
func MustParsePosition(s string) Position {
	p, err := ParsePosition(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String is the position as MariaDB writes it, domains in order.
func (p Position) String() string {
	if len(p.last) == 0 {
		return ""
	}
	ds := make([]uint32, 0, len(p.last))
	for d := range p.last {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = p.last[d].String()
	}
	return strings.Join(parts, ",")
}

// IsZero reports whether p is the empty position.
func (p Position) IsZero() bool { return len(p.last) == 0 }

// AtLeast reports whether p holds every transaction o holds.
func (p Position) AtLeast(o Position) bool {
	for d, g := range o.last {
		if p.last[d].Seq < g.Seq {
			return false
		}
		if _, ok := p.last[d]; !ok {
			return false
		}
	}
	return true
}

// Equal reports whether p and o hold the same transactions.
func (p Position) Equal(o Position) bool { return p.AtLeast(o) && o.AtLeast(p) }

// With returns p after transaction g.
func (p Position) With(g GTID) Position {
	m := make(map[uint32]GTID, len(p.last)+1)
	for d, x := range p.last {
		m[d] = x
	}
	m[g.Domain] = g
	return Position{last: m}
}
