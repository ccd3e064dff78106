package failover

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt with the actions decide returns now")

// TestDecide runs the scripts in testdata/*.txt against decide. A script
// is a list of cases separated by blank lines; each case is one command
// line (an event, or a change of the clock or the config), "----", and the
// actions decide returned, one per line (none: nothing after "----").
// Lines starting with # are comments. The clock starts at 0 and moves only
// with "tick <duration>". Commands:
//
//	config [startup-grace=D] [unresponsive-grace=D] [retry=D] [keyspaces=a,b]
//	                                    a new detector started now
//	shard <ks/shard> primary=<alias|none> term=<n>
//	shards-loaded
//	leases [<ks/shard>=<alias> ...]     the lease watch (re)started
//	lease <ks/shard> holder=<alias|none>
//	health <ks/shard> <alias> answering|unresponsive
//	health-lost <ks/shard> <alias>
//	dead <ks/shard> <alias>
//	reparent-done <ks/shard> done|failed|skipped
//	tick <duration>                     the clock moves on, then a tick
//	state                               prints each shard's state
//
// go test ./tablet/failover -run TestDecide -update rewrites the expected
// actions; read the diff before committing it.
func TestDecide(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScript(t, file)
		})
	}
}

type scriptCase struct {
	comments []string
	cmd      string
	line     int
	want     []string
}

func parseScript(t *testing.T, file string) []scriptCase {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var cases []scriptCase
	var comments []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "":
			continue
		case strings.HasPrefix(l, "#"):
			comments = append(comments, l)
			continue
		}
		c := scriptCase{comments: comments, cmd: l, line: i + 1}
		comments = nil
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: want ---- after the command", file, i+1)
		}
		i += 2
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			c.want = append(c.want, lines[i])
		}
		cases = append(cases, c)
	}
	if len(comments) > 0 {
		cases = append(cases, scriptCase{comments: comments})
	}
	return cases
}

func runScript(t *testing.T, file string) {
	cases := parseScript(t, file)
	start := time.Unix(1_000_000, 0)
	now := start
	s := newState(DefaultConfig(), now)
	var out strings.Builder
	failed := false
	for _, c := range cases {
		for _, cm := range c.comments {
			out.WriteString(cm + "\n")
		}
		if c.cmd == "" {
			continue
		}
		var got []string
		fields := strings.Fields(c.cmd)
		args := map[string]string{}
		var pos []string
		for _, f := range fields[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				args[k] = v
			} else {
				pos = append(pos, f)
			}
		}
		fail := func(format string, a ...any) {
			t.Fatalf("%s:%d: %s", file, c.line, fmt.Sprintf(format, a...))
		}
		need := func(n int) {
			if len(pos) != n {
				fail("%s wants %d arguments", fields[0], n)
			}
		}
		dur := func(s string) time.Duration {
			d, err := time.ParseDuration(s)
			if err != nil {
				fail("%v", err)
			}
			return d
		}
		alias := func(s string) string {
			if s == "none" {
				return ""
			}
			return s
		}
		var ev event
		switch fields[0] {
		case "config":
			cfg := DefaultConfig()
			for k, v := range args {
				switch k {
				case "startup-grace":
					cfg.StartupGrace = dur(v)
				case "unresponsive-grace":
					cfg.UnresponsiveGrace = dur(v)
				case "retry":
					cfg.RetryInterval = dur(v)
				case "keyspaces":
					cfg.Keyspaces = strings.Split(v, ",")
				default:
					fail("unknown config %s", k)
				}
			}
			s = newState(cfg, now)
		case "shard":
			need(1)
			term, err := strconv.ParseInt(args["term"], 10, 64)
			if err != nil {
				fail("term: %v", err)
			}
			ev = evShard{key: pos[0], primary: alias(args["primary"]), term: term}
		case "shards-loaded":
			ev = evShardsLoaded{}
		case "leases":
			holders := map[string]string{}
			for k, v := range args {
				holders[k] = v
			}
			ev = evLeases{holders: holders}
		case "lease":
			need(1)
			ev = evLease{key: pos[0], holder: alias(args["holder"])}
		case "health":
			need(3)
			switch pos[2] {
			case "answering", "unresponsive":
			default:
				fail("health is answering or unresponsive, not %s", pos[2])
			}
			ev = evHealth{key: pos[0], alias: pos[1], unresponsive: pos[2] == "unresponsive"}
		case "health-lost":
			need(2)
			ev = evHealthLost{key: pos[0], alias: pos[1]}
		case "dead":
			need(2)
			ev = evDead{key: pos[0], alias: pos[1]}
		case "reparent-done":
			need(2)
			r, ok := map[string]reparentResult{"done": reparentDone, "failed": reparentFailed, "skipped": reparentSkipped}[pos[1]]
			if !ok {
				fail("result is done, failed or skipped")
			}
			ev = evReparentDone{key: pos[0], result: r}
		case "tick":
			need(1)
			now = now.Add(dur(pos[0]))
			ev = evTick{}
		case "state":
			got = describeState(s, now)
		default:
			fail("unknown command %s", fields[0])
		}
		if ev != nil {
			for _, a := range decide(s, ev, now) {
				got = append(got, a.String())
			}
		}
		fmt.Fprintf(&out, "%s\n----\n", c.cmd)
		for _, g := range got {
			out.WriteString(g + "\n")
		}
		out.WriteString("\n")
		if !*update && strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			failed = true
			t.Errorf("%s:%d (t=%v): %s\ngot:\n%s\nwant:\n%s", file, c.line, now.Sub(start), c.cmd,
				strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
	if *update {
		if err := os.WriteFile(file, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if failed {
		t.Log("go test ./tablet/failover -run TestDecide -update rewrites the scripts with what decide does now")
	}
}

// describeState prints each shard's state, one line per shard.
func describeState(s *state, now time.Time) []string {
	var out []string
	keys := make([]string, 0, len(s.shards))
	for k := range s.shards {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sh := s.shards[k]
		l := fmt.Sprintf("%s primary=%s term=%d lease=%s following=%s", k, orNone(sh.primary), sh.term, orNone(sh.leaseHolder), orNone(sh.following))
		if !sh.unresponsiveSince.IsZero() {
			l += fmt.Sprintf(" unresponsive-for=%v", now.Sub(sh.unresponsiveSince))
		}
		if sh.acting {
			l += " acting"
		}
		if now.Before(sh.nextTry) {
			l += fmt.Sprintf(" retry-in=%v", sh.nextTry.Sub(now))
		}
		out = append(out, l)
	}
	return out
}
