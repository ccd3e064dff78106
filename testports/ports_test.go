package testports

import (
	"net"
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
