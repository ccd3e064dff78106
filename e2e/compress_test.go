package e2e

import (
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/testports"
)

// countingRelay forwards connections on a port of its own to addr and
// counts the bytes that come back from addr.
type countingRelay struct {
	ln   net.Listener
	down atomic.Int64
	wg   sync.WaitGroup
}

func startCountingRelay(t *testing.T, addr string) *countingRelay {
	t.Helper()
	ports, err := testports.Free(1)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])))
	if err != nil {
		t.Fatal(err)
	}
	r := &countingRelay{ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			r.wg.Add(2)
			go func() { defer r.wg.Done(); io.Copy(up, c); up.Close() }()
			go func() {
				defer r.wg.Done()
				n, _ := io.Copy(c, up)
				r.down.Add(n)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

// testCompression runs the mariadb client through the gate with and
// without --compress (the compressed protocol, zlib): the same script
// answers the same, and with compression a result of a megabyte of
// repeated text travels in far fewer bytes.
func testCompression(t *testing.T, c *cluster.Cluster) {
	if _, err := lookPath("mariadb"); err != nil {
		t.Skip("mariadb client not installed (make deps installs it)")
	}
	script := "select 1, 'a', null;\n" +
		"select length(repeat('compress me ', 100000)), md5(repeat('compress me ', 100000));\n" +
		"set @big = repeat('compress me ', 100000);\n" +
		"select length(@big), @@autocommit;\n" +
		"select * from information_schema.schemata where schema_name = 'no such schema';\n" +
		"create table if not exists cmp (id bigint primary key, v text);\n" +
		"delete from cmp; insert into cmp values (1, repeat('row one ', 1000)), (2, 'two');\n" +
		"begin; update cmp set v = 'changed' where id = 2; select id, length(v) from cmp order by id; rollback;\n" +
		"select id, v from cmp where id = 2;\n"
	big := "select repeat('compress me ', 100000)"
	var answers [2]string
	var wire [2]int64
	for i, flags := range [][]string{nil, {"--compress"}} {
		relay := startCountingRelay(t, c.GateAddr)
		host, port, _ := net.SplitHostPort(relay.ln.Addr().String())
		base := append([]string{"-h", host, "-P", port, "-u", "root", "-N", "commerce"}, flags...)
		out, err := runMariadb(t, script, base...)
		if err != nil {
			t.Fatalf("mariadb %v: %v\n%s", flags, err, out)
		}
		answers[i] = out
		before := relay.down.Load()
		out, err = runMariadb(t, "", append(base, "-e", big)...)
		if err != nil || len(strings.TrimRight(out, "\n")) != 1200000 {
			t.Fatalf("mariadb %v -e %q: %d bytes, %v", flags, big, len(out), err)
		}
		relay.ln.Close()
		relay.wg.Wait()
		wire[i] = relay.down.Load() - before
		// An error keeps its code and message.
		gh, gp, _ := net.SplitHostPort(c.GateAddr)
		out, err = runMariadb(t, "", append(append([]string{"-h", gh, "-P", gp, "-u", "root", "commerce"}, flags...), "-e", "select * from no_such_table")...)
		if err == nil || !strings.Contains(out, "ERROR 1146") {
			t.Fatalf("mariadb %v: an error: %v\n%s", flags, err, out)
		}
	}
	if answers[0] != answers[1] {
		t.Fatalf("answers differ:\nplain:\n%s\ncompressed:\n%s", answers[0], answers[1])
	}
	t.Logf("1.2 MB of repeated text: %d bytes from the gate plain, %d compressed", wire[0], wire[1])
	if wire[0] < 1200000 || wire[1]*10 > wire[0] {
		t.Fatalf("the compressed session took %d bytes on the wire, the plain one %d", wire[1], wire[0])
	}
}
