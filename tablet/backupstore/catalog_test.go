package backupstore

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBackupsAndSegmentsInAStore(t *testing.T) {
	ctx := t.Context()
	s := testStore(t)
	if _, err := LatestBackup(ctx, s, "ks", "-80"); !errors.Is(err, ErrNoBackup) {
		t.Fatalf("LatestBackup of nothing: %v", err)
	}
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var ms []Manifest
	for i, tablet := range []string{"zone1-101", "zone1-102"} {
		m := Manifest{ID: NewBackupID(t0.Add(time.Duration(i)*time.Hour), tablet), Keyspace: "ks", Shard: "-80", Tablet: tablet,
			Position: "0-101-" + string(rune('5'+i)), Start: t0.Add(time.Duration(i) * time.Hour), End: t0.Add(time.Duration(i)*time.Hour + time.Minute)}
		m.Data = put(t, s, Codec{Compress: true}, m.DataName(), []byte("archive of "+tablet))
		if err := PutManifest(ctx, s, m); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	// A manifest without its archive, and an archive without a manifest
	// (a backup in progress), are not listed.
	orphan := Manifest{ID: NewBackupID(t0.Add(3*time.Hour), "zone1-103"), Keyspace: "ks", Shard: "-80", End: t0.Add(3 * time.Hour)}
	PutManifest(ctx, s, orphan)
	put(t, s, Codec{}, "ks/-80/backups/"+NewBackupID(t0.Add(4*time.Hour), "zone1-104")+".data", []byte("half"))
	all, err := ListBackups(ctx, s, "ks", "-80")
	if err != nil || len(all) != 2 || all[0].ID != ms[0].ID || all[1].ID != ms[1].ID {
		t.Fatalf("ListBackups = %+v, %v", all, err)
	}
	latest, err := LatestBackup(ctx, s, "ks", "-80")
	if err != nil || latest.ID != ms[1].ID || latest.Data.RawBytes != int64(len("archive of zone1-102")) {
		t.Fatalf("LatestBackup = %+v, %v", latest, err)
	}
	if got, err := get(ctx, s, latest.DataName(), latest.Data, nil); err != nil || string(got) != "archive of zone1-102" {
		t.Fatalf("archive = %q, %v", got, err)
	}
	if m, err := FindBackup(ctx, s, "ks", "-80", ms[0].ID); err != nil || m.Position != ms[0].Position {
		t.Fatalf("FindBackup = %+v, %v", m, err)
	}
	g := Segment{Keyspace: "ks", Shard: "80-", Term: 77, First: 10, Last: 20, Prev: "0-101-9", End: "0-101-20",
		FirstTime: t0, LastTime: t0.Add(time.Minute), Transactions: 11}
	g.Data = put(t, s, Codec{}, g.DataName(), []byte("binlog"))
	if err := PutSegment(ctx, s, g); err != nil {
		t.Fatal(err)
	}
	segs, err := ListSegments(ctx, s, "ks", "80-")
	if err != nil || len(segs) != 1 || segs[0].First != 10 || segs[0].Last != 20 || segs[0].Term != 77 || !segs[0].LastTime.Equal(g.LastTime) {
		t.Fatalf("ListSegments = %+v, %v", segs, err)
	}
	full, err := ReadSegment(ctx, s, segs[0])
	if err != nil || full.Prev != "0-101-9" || full.Transactions != 11 {
		t.Fatalf("ReadSegment = %+v, %v", full, err)
	}
	shards, err := ListShards(ctx, s, "ks")
	if err != nil || strings.Join(shards, ",") != "-80,80-" {
		t.Fatalf("ListShards = %v, %v", shards, err)
	}
	if err := DeleteBackup(ctx, s, ms[0]); err != nil {
		t.Fatal(err)
	}
	if all, _ := ListBackups(ctx, s, "ks", "-80"); len(all) != 1 {
		t.Fatalf("after delete: %+v", all)
	}
}

func TestRetention(t *testing.T) {
	now := time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC)
	var all []Manifest
	for d := 9; d >= 0; d-- { // one a day, oldest first; the newest is a day old
		all = append(all, Manifest{ID: string(rune('a' + 9 - d)), End: now.Add(-time.Duration(d+1) * 24 * time.Hour)})
	}
	ids := func(ms []Manifest) string {
		var s string
		for _, m := range ms {
			s += m.ID
		}
		return s
	}
	for _, c := range []struct {
		r    Retention
		want string
	}{
		{Retention{}, ""},
		{Retention{Keep: 3}, "abcdefg"},
		{Retention{Keep: 20}, ""},
		// Younger than 4 days: h, i, j; and g, the newest at or before
		// the cut (4 days old).
		{Retention{MaxAge: 4 * 24 * time.Hour}, "abcdef"},
		// None is younger: the newest at or before the cut stays.
		{Retention{MaxAge: time.Hour}, "abcdefghi"},
		{Retention{Keep: 5, MaxAge: 2 * 24 * time.Hour}, "abcde"},
	} {
		if got := ids(c.r.Expired(all, now)); got != c.want {
			t.Errorf("%+v: expired %q, want %q", c.r, got, c.want)
		}
	}
}

func TestTimelineAndChain(t *testing.T) {
	seg := func(term int64, first, last uint64) Segment { return Segment{Term: term, First: first, Last: last} }
	show := func(gs []Segment) string {
		var parts []string
		for _, g := range gs {
			parts = append(parts, strings.Join([]string{itoa(g.Term), itoa(int64(g.First)), itoa(int64(g.Last))}, ":"))
		}
		return strings.Join(parts, " ")
	}
	// Term 1 archived 1..40; term 2 took over at 31 (transactions 31..40
	// of term 1 were lost in the failover) and went on to 60; term 3
	// continued at 61.
	all := []Segment{seg(1, 1, 10), seg(1, 11, 30), seg(1, 31, 40), seg(2, 31, 45), seg(2, 46, 60), seg(3, 61, 70)}
	line, err := Timeline(all)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := show(line), "1:1:10 1:11:30 2:31:45 2:46:60 3:61:70"; got != want {
		t.Fatalf("Timeline = %s, want %s", got, want)
	}
	for _, c := range []struct {
		from, to uint64
		want     string
		gap      bool
	}{
		{0, 0, "1:1:10 1:11:30 2:31:45 2:46:60 3:61:70", false},
		{10, 31, "1:11:30 2:31:45", false},
		{12, 12, "", false},
		{11, 12, "1:11:30", false},
		{70, 0, "", false},
		{45, 50, "2:46:60", false},
		{60, 75, "", true},
	} {
		got, err := Chain(line, c.from, c.to)
		if c.gap {
			if !errors.Is(err, ErrArchiveGap) {
				t.Errorf("Chain(%d, %d) = %s, %v; want a gap", c.from, c.to, show(got), err)
			}
			continue
		}
		if err != nil || show(got) != c.want {
			t.Errorf("Chain(%d, %d) = %s, %v; want %s", c.from, c.to, show(got), err, c.want)
		}
	}
	// A hole in the middle.
	holed, _ := Timeline([]Segment{seg(1, 1, 10), seg(1, 21, 30)})
	if _, err := Chain(holed, 0, 25); !errors.Is(err, ErrArchiveGap) {
		t.Errorf("Chain over a hole: %v", err)
	}
	if got, err := Chain(holed, 0, 10); err != nil || show(got) != "1:1:10" {
		t.Errorf("Chain before a hole = %s, %v", show(got), err)
	}
	// A later term starting inside a segment is refused.
	if _, err := Timeline([]Segment{seg(1, 1, 10), seg(2, 5, 12)}); err == nil {
		t.Error("a term starting inside a segment was accepted")
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func TestSeqOf(t *testing.T) {
	for pos, want := range map[string]uint64{"": 0, "0-101-42": 42, " 0-102-7 ": 7} {
		if got, err := SeqOf(pos); err != nil || got != want {
			t.Errorf("SeqOf(%q) = %d, %v", pos, got, err)
		}
	}
	for _, pos := range []string{"1-101-4", "0-101", "0-101-x"} {
		if _, err := SeqOf(pos); err == nil {
			t.Errorf("SeqOf(%q) succeeded", pos)
		}
	}
}
