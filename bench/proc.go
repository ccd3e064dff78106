package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat's times (USER_HZ), which is
// 100 on every Linux this runs on.
const clockTick = 10 * time.Millisecond

// ProcCPU returns the CPU time (user and system, all threads, living and
// exited) a process has used, from /proc/<pid>/stat.
func ProcCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(data)
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a stat line.
// The command name (field 2) is in parentheses and may hold spaces, so
// fields are counted from the last ')'.
func parseStatCPU(data []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad stat line %q", data)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state): utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short stat line %q", data)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad times in stat line %q", data)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// ProcRSS returns a process's resident set size in bytes (VmRSS).
func ProcRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusRSS(data)
}

func parseStatusRSS(data []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("bad VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bad VmRSS line %q", line)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

// ParentPID returns the parent of a process.
func ParentPID(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad stat line %q", data)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 {
		return 0, fmt.Errorf("bad stat line %q", data)
	}
	return strconv.Atoi(f[1])
}

// ListeningPID returns the process listening on a local TCP port, found
// through /proc/net/tcp{,6} and the processes' open sockets.
func ListeningPID(port int) (int, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, ino := range listeningInodes(data, port) {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("nothing listens on port %d", port)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	sort.Slice(procs, func(i, j int) bool {
		return len(procs[i]) < len(procs[j]) || len(procs[i]) == len(procs[j]) && procs[i] < procs[j]
	})
	for _, p := range procs {
		fds, err := os.ReadDir(p + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			l, err := os.Readlink(p + "/fd/" + fd.Name())
			if err != nil {
				continue
			}
			if ino, ok := strings.CutPrefix(l, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
				return strconv.Atoi(filepath.Base(p))
			}
		}
	}
	return 0, fmt.Errorf("no process owns the socket listening on port %d", port)
}

// listeningInodes returns the inodes of sockets in LISTEN state (0A) on
// port in a /proc/net/tcp table.
func listeningInodes(data []byte, port int) []string {
	var out []string
	hexPort := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" || !strings.HasSuffix(f[1], hexPort) {
			continue
		}
		out = append(out, f[9])
	}
	return out
}

// CPUProbe is a RoundProbe that reports, per round, the CPU time groups of
// processes used per statement the round sent, in microseconds: the key
// "<group>_cpu_us_per_query". Processes that are gone count as zero.
type CPUProbe struct {
	// Groups are the processes to watch by name: "gate", "tablet", ...
	Groups map[string][]int
	start  map[string]time.Duration
}

func (p *CPUProbe) sample() map[string]time.Duration {
	out := map[string]time.Duration{}
	for g, pids := range p.Groups {
		for _, pid := range pids {
			if d, err := ProcCPU(pid); err == nil {
				out[g] += d
			}
		}
	}
	return out
}

// Begin implements RoundProbe.
func (p *CPUProbe) Begin(string) error {
	p.start = p.sample()
	return nil
}

// End implements RoundProbe.
func (p *CPUProbe) End(_ string, r *Result) (map[string]float64, error) {
	end := p.sample()
	out := map[string]float64{}
	for g := range p.Groups {
		d := end[g] - p.start[g]
		out[g+"_cpu_us_per_query"] = div(float64(d.Microseconds()), float64(r.Queries))
	}
	return out, nil
}
