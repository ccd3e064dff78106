package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/mosaicdb/mosaic/bench"
)

// cpuRoles names the processes a benchmark accounts CPU time to: a tablet
// (its `mosaic tablet` process) and its mysqld, each found by its tablet
// dir on its command line.
type cpuRoles map[string]string // tablet dir -> role, e.g. "source replica"

// cpuTimes are CPU seconds (user+system) by role and process kind
// ("source replica mysqld", "target tablet").
type cpuTimes map[string]float64

// snapshot reads the CPU time so far of the processes of r.
func (r cpuRoles) snapshot() cpuTimes {
	out := cpuTimes{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		role := ""
		for dir, name := range r {
			if bytes.Contains(cmd, []byte(dir)) {
				role = name
				break
			}
		}
		if role == "" {
			continue
		}
		kind := " tablet"
		argv0, _, _ := bytes.Cut(cmd, []byte{0})
		if b := filepath.Base(string(argv0)); b == "mariadbd" || b == "mysqld" {
			kind = " mysqld"
		}
		out[role+kind] += procCPU(pid)
	}
	return out
}

// procCPU is a process's user+system CPU seconds (0 if it is gone).
func procCPU(pid int) float64 {
	d, err := bench.ProcCPU(pid)
	if err != nil {
		return 0
	}
	return d.Seconds()
}

// sub returns the CPU time spent between before and t.
func (t cpuTimes) sub(before cpuTimes) cpuTimes {
	out := cpuTimes{}
	for k, v := range t {
		out[k] = v - before[k]
	}
	return out
}

// String lists the roles in name order with the total.
func (t cpuTimes) String() string {
	keys := make([]string, 0, len(t))
	var total float64
	for k, v := range t {
		keys = append(keys, k)
		total += v
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %.2fs, ", k, t[k])
	}
	fmt.Fprintf(&b, "total %.2fs", total)
	return b.String()
}
