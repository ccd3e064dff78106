package keyrange

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckPartition(t *testing.T) {
	for _, ok := range [][]string{
		{"0"},
		{"-"},
		{"-80", "80-"},
		{"80-", "-80"},
		{"-40", "40-80", "80-c0", "c0-"},
		{"-4000", "40-80", "8000-"},
		{"00-80", "80-"},
	} {
		if err := CheckPartition(ok); err != nil {
			t.Errorf("CheckPartition(%v) = %v, want nil", ok, err)
		}
	}
	for _, c := range []struct {
		shards []string
		says   string
	}{
		{nil, "no shards"},
		{[]string{"-80"}, "from 80 up"},
		{[]string{"80-"}, "below 80"},
		{[]string{"-80", "-40", "80-"}, "overlap"},
		{[]string{"-80", "40-80", "80-"}, "overlap"},
		{[]string{"-80", "80-", "c0-"}, "overlap"},
		{[]string{"0", "-80"}, "overlap"},
		{[]string{"-40", "80-"}, "from 40 to 80"},
		{[]string{"-40", "40-80", "c0-"}, "from 80 to c0"},
		{[]string{"-80", "80-", "80-"}, "overlap"},
	} {
		err := CheckPartition(c.shards)
		if !errors.Is(err, ErrNotPartition) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("CheckPartition(%v) = %v, want ErrNotPartition saying %q", c.shards, err, c.says)
		}
	}
	if err := CheckPartition([]string{"-80", "zz-"}); err == nil || errors.Is(err, ErrNotPartition) {
		t.Errorf("bad name: %v, want a parse error", err)
	}
}

func TestCovers(t *testing.T) {
	for _, c := range []struct {
		covering []string
		shard    string
		want     bool
	}{
		{[]string{"-40", "40-80", "80-c0", "c0-"}, "-80", true},
		{[]string{"-40", "40-80", "80-c0", "c0-"}, "80-", true},
		{[]string{"-80", "80-"}, "0", true},
		{[]string{"-40", "80-"}, "-80", false},
		{[]string{"-80", "80-"}, "40-c0", false},
		{[]string{"-40", "20-80"}, "-80", false},
		{[]string{"0"}, "-80", false},
		{[]string{"-80"}, "-80", true},
	} {
		if got := Covers(c.covering, c.shard); got != c.want {
			t.Errorf("Covers(%v, %s) = %v, want %v", c.covering, c.shard, got, c.want)
		}
	}
}

func TestSortShardNames(t *testing.T) {
	names := []string{"80-", "-80", "40-80", "-40", "c0-", "80-c0", "0"}
	SortShardNames(names)
	want := []string{"-40", "-80", "0", "40-80", "80-c0", "80-", "c0-"}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("sorted = %v, want %v", names, want)
		}
	}
}
