package reconcile

import (
	"strings"
	"testing"
)

// lines prints actions one per line, for comparing with a test's want.
func lines(actions []Action) string {
	var out []string
	for _, a := range actions {
		out = append(out, a.String())
	}
	return strings.Join(out, "\n")
}

func TestDecide(t *testing.T) {
	cfg := DefaultConfig()
	local := []Shard{{Keyspace: "commerce", Shard: "0"}, {Keyspace: "customer", Shard: "-80"}, {Keyspace: "customer", Shard: "80-"}}
	running := func(uid uint32, ks, sh string) Tablet {
		return Tablet{UID: uid, Keyspace: ks, Shard: sh, Owned: true, Registered: true, Running: true}
	}
	cases := []struct {
		name    string
		cfg     func(*Config)
		shards  []Shard
		tablets []Tablet
		want    string
		wantErr string
	}{{
		name:   "a new local cluster gets the first layout: a hundred per shard",
		shards: local,
		want: `start commerce/0 uid 100
start commerce/0 uid 101
start customer/-80 uid 200
start customer/-80 uid 201
start customer/80- uid 300
start customer/80- uid 301`,
	}, {
		name:   "started but not registered yet: nothing more",
		shards: local,
		tablets: []Tablet{
			{UID: 100, Keyspace: "commerce", Shard: "0", Owned: true, Running: true},
			{UID: 101, Keyspace: "commerce", Shard: "0", Owned: true, Running: true, Registered: true},
		},
		want: `start customer/-80 uid 200
start customer/-80 uid 201
start customer/80- uid 300
start customer/80- uid 301`,
	}, {
		name:    "all registered: the lowest uid becomes primary",
		shards:  []Shard{{Keyspace: "commerce", Shard: "0"}},
		tablets: []Tablet{running(101, "commerce", "0"), running(100, "commerce", "0")},
		want:    `init-primary commerce/0 uid 100`,
	}, {
		name:    "a shard with a primary is left alone",
		shards:  []Shard{{Keyspace: "commerce", Shard: "0", HasPrimary: true}},
		tablets: []Tablet{running(100, "commerce", "0"), running(101, "commerce", "0")},
	}, {
		name: "new shards of a reshard get free blocks; a restart starts the owned tablets",
		shards: []Shard{{Keyspace: "commerce", Shard: "0", HasPrimary: true}, {Keyspace: "customer", Shard: "-80", HasPrimary: true},
			{Keyspace: "customer", Shard: "80-", HasPrimary: true}, {Keyspace: "customer", Shard: "-40"}, {Keyspace: "customer", Shard: "40-80"}},
		tablets: []Tablet{
			{UID: 100, Keyspace: "commerce", Shard: "0", Owned: true, Registered: true},
			running(200, "customer", "-80"),
			running(300, "customer", "80-"),
		},
		cfg: func(c *Config) { c.Replicas = 0 },
		want: `start commerce/0 uid 100
start customer/-40 uid 400
start customer/40-80 uid 500`,
	}, {
		name:   "a deleted shard's tablets stop; the others stay",
		shards: []Shard{{Keyspace: "customer", Shard: "-80", HasPrimary: true}},
		tablets: []Tablet{
			running(200, "customer", "-80"),
			running(301, "customer", "80-"),
			running(300, "customer", "80-"),
		},
		want: `stop customer/80- uid 300
stop customer/80- uid 301`,
	}, {
		name:    "someone else runs the shard's tablets: no start, no init",
		shards:  []Shard{{Keyspace: "customer", Shard: "c0-"}},
		tablets: []Tablet{{UID: 400, Keyspace: "customer", Shard: "c0-", Registered: true}},
	}, {
		name:   "others' uids are not reused; hundreds full: blocks of ten",
		shards: []Shard{{Keyspace: "ks", Shard: "-80"}, {Keyspace: "ks", Shard: "80-"}},
		tablets: []Tablet{
			{UID: 100, Keyspace: "a", Shard: "0", Registered: true},
			{UID: 200, Keyspace: "b", Shard: "0", Registered: true},
			{UID: 300, Keyspace: "c", Shard: "0", Registered: true},
			{UID: 110, Keyspace: "d", Shard: "0", Registered: true},
		},
		cfg: func(c *Config) { c.MaxUID = 400 },
		want: `start ks/-80 uid 120
start ks/-80 uid 121
start ks/80- uid 130
start ks/80- uid 131`,
	}, {
		name:    "no room",
		shards:  []Shard{{Keyspace: "ks", Shard: "0"}},
		tablets: []Tablet{{UID: 100, Keyspace: "a", Shard: "0", Registered: true}},
		cfg:     func(c *Config) { c.MaxUID = 110; c.Replicas = 9 },
		wantErr: "no 10 free consecutive tablet uids",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := cfg
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			got, err := Decide(cfg, c.shards, c.tablets)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if lines(got) != c.want {
				t.Fatalf("actions:\n%s\nwant:\n%s", lines(got), c.want)
			}
		})
	}
}
