package testports

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

func TestFreeNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 200; i++ {
		ports, err := Free(3)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ports {
			if seen[p] {
				t.Fatalf("port %d given twice", p)
			}
			seen[p] = true
			// And it was free: it can be bound.
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				t.Fatalf("port %d: %v", p, err)
			}
			l.Close()
		}
	}
	for p := range seen {
		if Claim(p) {
			t.Fatalf("Claim(%d) of a given port succeeded", p)
		}
	}
}

func TestFreeBelowEphemeralRange(t *testing.T) {
	ports, err := Free(20)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if p < Low || p >= High {
			t.Fatalf("port %d outside [%d, %d)", p, Low, High)
		}
	}
}

// TestClaimAcrossProcesses: a port that another process took from this
// package is not given here, and is given once that process exits.
func TestClaimAcrossProcesses(t *testing.T) {
	if os.Getenv("TESTPORTS_CHILD") != "" {
		ports, err := Free(1)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(ports[0])
		// Hold the claim until the parent closes our stdin.
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestClaimAcrossProcesses$")
	cmd.Env = append(os.Environ(), "TESTPORTS_CHILD=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var p int
	if _, err := fmt.Fscan(out, &p); err != nil {
		t.Fatalf("reading the child's port: %v", err)
	}
	if Claim(p) {
		t.Fatalf("Claim(%d) succeeded while another process holds it", p)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if !Claim(p) {
		t.Fatalf("Claim(%d) failed after the holding process exited", p)
	}
}
