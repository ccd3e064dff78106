package tabletgw

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/testports"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

// muxTestClient returns the gate's client of the tablet at addr, with
// Execute multiplexed on streams streams, closed when the test ends.
func muxTestClient(t *testing.T, addr string, streams int, creds credentials.TransportCredentials) *tabletClient {
	t.Helper()
	conn, err := newTabletConn(&tabletDialer{addr: addr}, creds)
	if err != nil {
		t.Fatal(err)
	}
	qc := querypb.NewQueryClient(conn)
	c := &tabletClient{QueryClient: qc, mux: newMuxClient(qc, streams)}
	t.Cleanup(func() {
		c.mux.close()
		conn.Close()
	})
	return c
}

// openStreams counts the client's streams that work.
func (c *muxClient) openStreams() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ms := range c.streams {
		if ms != nil && ms.usable() {
			n++
		}
	}
	return n
}

// sleeping counts the statements of mysqld that run text.
func sleeping(t *testing.T, tb *tablettest.Tablet, text string) int {
	t.Helper()
	res := tb.ExecuteFetchAsDba(t, fmt.Sprintf("SELECT id FROM information_schema.processlist WHERE info LIKE '%s%%' AND command = 'Query'", text))
	return len(res.Rows)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMultiplex runs Execute calls over Multiplex streams against a real
// tablet: results and errors as unary calls give them, many calls at
// once, transactions, the too-large answer of small_result, cancellation
// and deadlines that kill the statement, a connection cut under a running
// call, and a tablet that shuts down under one.
func TestMultiplex(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a tablet")
	}
	ts := topo.NewServer(etcdtest.NewStore(t))
	sh := tablettest.StartShard(t, ts, "commerce", "0", 0)
	tb := sh.Primary()
	target := sh.Target(topodatapb.TabletType_PRIMARY)
	gateCreds := tb.Certs.TabletCreds(t, mtls.RoleGate)
	c := muxTestClient(t, tb.GRPCAddr, 2, gateCreds)
	ctx := t.Context()

	exec := func(ctx context.Context, sql string, txID int64) (*querypb.QueryResult, error) {
		resp, err := c.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: sql, TransactionId: txID})
		if err != nil {
			return nil, err
		}
		return resp.Result, nil
	}
	mustExec := func(sql string) *querypb.QueryResult {
		t.Helper()
		res, err := exec(ctx, sql, 0)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return res
	}

	t.Run("ResultsAndErrors", func(t *testing.T) {
		mustExec("CREATE TABLE mux (id BIGINT PRIMARY KEY, v VARCHAR(200))")
		res := mustExec("INSERT INTO mux VALUES (1, 'a'), (2, 'b')")
		if res.RowsAffected != 2 {
			t.Errorf("insert: %v", res)
		}
		res = mustExec("SELECT id, v FROM mux ORDER BY id")
		unary, err := c.QueryClient.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: "SELECT id, v FROM mux ORDER BY id"})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(res) != fmt.Sprint(unary.Result) {
			t.Errorf("multiplexed result %v, unary %v", res, unary.Result)
		}
		_, err = exec(ctx, "INSERT INTO mux VALUES (1, 'again')", 0)
		if e := sqlerr.FromError(err); err == nil || e.Num != 1062 || e.State != "23000" || e.Retryable {
			t.Errorf("duplicate key: %v", err)
		}
		// A target the tablet does not serve: retryable, not run.
		_, err = c.Execute(ctx, &querypb.ExecuteRequest{Target: &querypb.Target{Keyspace: "commerce", Shard: "-80", TabletType: topodatapb.TabletType_PRIMARY}, Sql: "SELECT 1"})
		if !sqlerr.IsRetryable(err) {
			t.Errorf("wrong target: %v, want a retryable error", err)
		}
		if n := c.mux.openStreams(); n == 0 {
			t.Errorf("no multiplexed stream was used")
		}
		// Statements, results and errors that are not UTF-8 (binary
		// values, latin1 text) go on the stream, byte for byte.
		streams := c.mux.openStreams()
		resp, err := c.mux.execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: "SELECT _binary'\xff\xfe' AS `a\xe9`, HEX(_binary'\xff') AS h",
			Options: &querypb.ExecuteOptions{Settings: []string{"SET NAMES latin1", "SET @b = _binary'\xff'"}}})
		if err != nil {
			t.Fatalf("multiplexed statement with bytes that are not UTF-8: %v", err)
		}
		if res := resp.Result; len(res.Fields) != 2 || res.Fields[0].Name != "a\xe9" || len(res.Rows) != 1 || string(res.Rows[0]) != "\x02\xff\xfe\x02FF" {
			t.Errorf("result %q, want column a\\xe9 and row ff fe, FF", res)
		}
		// mysqld quotes the duplicate value in character_set_results.
		mustExec("CREATE TABLE mux_dup (id BIGINT PRIMARY KEY, s VARCHAR(10) CHARACTER SET latin1 UNIQUE)")
		latin1 := &querypb.ExecuteOptions{Settings: []string{"SET NAMES latin1"}}
		dup := &querypb.ExecuteRequest{Target: target, Sql: "INSERT INTO mux_dup VALUES (1, 'caf\xe9')", Options: latin1}
		if _, err := c.mux.execute(ctx, dup); err != nil {
			t.Fatal(err)
		}
		dup = &querypb.ExecuteRequest{Target: target, Sql: "INSERT INTO mux_dup VALUES (2, 'caf\xe9')", Options: latin1}
		for name, call := range map[string]func() error{
			"multiplexed": func() error {
				_, err := c.mux.execute(ctx, dup)
				return err
			},
			"unary": func() error {
				_, err := c.QueryClient.Execute(ctx, dup)
				return err
			},
		} {
			err := call()
			if e := sqlerr.FromError(err); err == nil || e.Num != 1062 || !strings.Contains(e.Message, "'caf\xe9'") {
				t.Errorf("%s duplicate key: %q, want 1062 quoting the latin1 bytes", name, e.Message)
			}
		}
		mustExec("SELECT 1")
		if c.mux.openStreams() != streams {
			t.Errorf("streams %d after statements that are not UTF-8, were %d", c.mux.openStreams(), streams)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 25 {
					want := fmt.Sprintf("%d-%d", g, i)
					res, err := exec(ctx, fmt.Sprintf("SELECT '%s'", want), 0)
					if err != nil {
						errs <- err
						return
					}
					if len(res.Rows) != 1 || !strings.HasSuffix(string(res.Rows[0]), want) {
						errs <- fmt.Errorf("call %s got %q", want, res.Rows)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("Transaction", func(t *testing.T) {
		for _, commit := range []bool{false, true} {
			b, err := c.Begin(ctx, &querypb.BeginRequest{Target: target})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := exec(ctx, "INSERT INTO mux VALUES (10, 'tx')", b.TransactionId); err != nil {
				t.Fatal(err)
			}
			res, err := exec(ctx, "SELECT v FROM mux WHERE id = 10", b.TransactionId)
			if err != nil || len(res.Rows) != 1 {
				t.Fatalf("read own write: %v %v", res, err)
			}
			if commit {
				_, err = c.Commit(ctx, &querypb.CommitRequest{Target: target, TransactionId: b.TransactionId})
			} else {
				_, err = c.Rollback(ctx, &querypb.RollbackRequest{Target: target, TransactionId: b.TransactionId})
			}
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if commit {
				want = 1
			}
			if n := len(mustExec("SELECT v FROM mux WHERE id = 10").Rows); n != want {
				t.Errorf("commit=%v: %d rows after the transaction", commit, n)
			}
		}
		// A transaction the tablet does not have.
		_, err := exec(ctx, "SELECT 1", 12345)
		if err == nil {
			t.Error("unknown transaction: no error")
		}
	})

	t.Run("TooLarge", func(t *testing.T) {
		mustExec("INSERT INTO mux SELECT seq + 100, REPEAT('x', 200) FROM seq_1_to_1000")
		resp, err := c.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: "SELECT * FROM mux", SmallResult: true})
		if err != nil || !resp.TooLarge || resp.Result != nil {
			t.Fatalf("small result of 200 KB: %v %v, want too_large", resp, err)
		}
		// Without small_result the whole result comes back.
		res := mustExec("SELECT * FROM mux")
		if len(res.Rows) != 1003 {
			t.Errorf("%d rows, want 1003", len(res.Rows))
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := exec(cctx, "SELECT SLEEP(30) /* cancel */", 0)
			done <- err
		}()
		waitFor(t, 10*time.Second, "statement running", func() bool { return sleeping(t, tb, "SELECT SLEEP(30) /* cancel") == 1 })
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if e := sqlerr.FromError(err); e == nil || e.Num != sqlerr.ERQueryInterrupted || e.Retryable {
				t.Errorf("cancelled call: %v, want error 1317", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("cancelled call did not return")
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("cancelled call returned after %v", d)
		}
		waitFor(t, 10*time.Second, "statement killed", func() bool { return sleeping(t, tb, "SELECT SLEEP(30) /* cancel") == 0 })
		// The stream goes on serving.
		streams := c.mux.openStreams()
		mustExec("SELECT 1")
		if c.mux.openStreams() != streams {
			t.Errorf("streams %d after cancelling, were %d", c.mux.openStreams(), streams)
		}
	})

	t.Run("Deadline", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := exec(dctx, "SELECT SLEEP(30) /* deadline */", 0)
		if e := sqlerr.FromError(err); e == nil || e.Num != sqlerr.ERQueryTimeout {
			t.Errorf("call past its deadline: %v, want error 3024", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("call past its deadline returned after %v", d)
		}
		waitFor(t, 10*time.Second, "statement killed", func() bool { return sleeping(t, tb, "SELECT SLEEP(30) /* deadline") == 0 })
	})

	t.Run("ConnectionCut", func(t *testing.T) {
		relay := startRelay(t, tb.GRPCAddr)
		rc := muxTestClient(t, relay.addr(), 1, gateCreds)
		if _, err := rc.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: "SELECT 1"}); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := rc.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: "SELECT SLEEP(30) /* cut */"})
			done <- err
		}()
		waitFor(t, 10*time.Second, "statement running", func() bool { return sleeping(t, tb, "SELECT SLEEP(30) /* cut") == 1 })
		// The tablet "dies": its connection drops and nothing listens.
		relay.close()
		select {
		case err := <-done:
			// It was sent: it may have run, so it must not be retried.
			if err == nil || sqlerr.IsRetryable(err) {
				t.Errorf("call under a cut connection: %v, want a non-retryable error", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("call under a cut connection did not fail")
		}
		// The tablet saw its caller go and killed the statement.
		waitFor(t, 10*time.Second, "statement killed", func() bool { return sleeping(t, tb, "SELECT SLEEP(30) /* cut") == 0 })
		// A call now cannot be sent: retryable.
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := rc.Execute(cctx, &querypb.ExecuteRequest{Target: target, Sql: "SELECT 1"})
		if !sqlerr.IsRetryable(err) {
			t.Errorf("call to an unreachable tablet: %v, want a retryable error", err)
		}
	})

	t.Run("HungTablet", func(t *testing.T) {
		// The tablet stops reading: calls queue up until the stream's
		// flow-control window is full, and then sends block. Breaking
		// the streams (what the health check does when the tablet's
		// health stream goes silent) ends every one of them.
		relay := startRelay(t, tb.GRPCAddr)
		rc := muxTestClient(t, relay.addr(), 1, gateCreds)
		if _, err := rc.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: "SELECT 1"}); err != nil {
			t.Fatal(err)
		}
		relay.freeze()
		sql := "SELECT '" + strings.Repeat("x", 60<<10) + "'"
		const calls = 40 // 2.4 MB: more than the 1 MiB window
		errs := make(chan error, calls)
		for range calls {
			go func() {
				_, err := rc.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: sql})
				errs <- err
			}()
		}
		ms := rc.mux.streams[0]
		waitFor(t, 10*time.Second, "every call waiting", func() bool {
			ms.mu.Lock()
			defer ms.mu.Unlock()
			return len(ms.pending) == calls
		})
		rc.mux.breakStreams()
		retryable := 0
		for range calls {
			select {
			case err := <-errs:
				if err == nil {
					t.Fatal("a call to a hung tablet succeeded")
				}
				if sqlerr.IsRetryable(err) {
					retryable++
				}
			case <-time.After(10 * time.Second):
				t.Fatal("calls to a hung tablet did not end when its streams broke")
			}
		}
		if retryable == 0 {
			t.Error("no call was left unsent")
		}
		relay.thaw()
	})

	t.Run("Shutdown", func(t *testing.T) {
		running := make(chan error, 1)
		go func() {
			res, err := exec(ctx, "SELECT SLEEP(2) /* shutdown */", 0)
			if err == nil && len(res.Rows) != 1 {
				err = fmt.Errorf("result %v", res)
			}
			running <- err
		}()
		waitFor(t, 10*time.Second, "statement running", func() bool { return sleeping(t, tb, "SELECT SLEEP(2) /* shutdown") == 1 })
		stopped := make(chan struct{})
		go func() { tb.Stop(); close(stopped) }()
		// Calls during the shutdown are refused, or left unanswered
		// when the stream ends: either way they did not run.
		for {
			_, err := exec(ctx, "SELECT 1", 0)
			if err != nil {
				if !sqlerr.IsRetryable(err) {
					t.Errorf("call during shutdown: %v, want a retryable error", err)
				}
				break
			}
		}
		// The call that was running is answered.
		if err := <-running; err != nil {
			t.Errorf("call running at shutdown: %v", err)
		}
		select {
		case <-stopped:
		case <-time.After(time.Minute):
			t.Fatal("tablet did not stop")
		}
	})
}

// TestMultiplexUnsupported: a tablet without the Multiplex method (an
// older one) gets unary calls.
func TestMultiplexUnsupported(t *testing.T) {
	lis, err := testports.Listen()
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	querypb.RegisterQueryServer(gs, unaryOnly{})
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	c := muxTestClient(t, lis.Addr().String(), 1, insecure.NewCredentials())
	for i := range 3 {
		resp, err := c.Execute(t.Context(), &querypb.ExecuteRequest{Sql: "x"})
		if err != nil || resp.Result.RowsAffected != 7 {
			t.Fatalf("call %d: %v %v", i, resp, err)
		}
	}
	if !c.mux.unsupported.Load() {
		t.Error("client did not notice the tablet has no Multiplex")
	}
}

type unaryOnly struct {
	querypb.UnimplementedQueryServer
}

func (unaryOnly) Execute(context.Context, *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	return &querypb.ExecuteResponse{Result: &querypb.QueryResult{RowsAffected: 7}}, nil
}

// relay forwards TCP connections to a target until closed, when it cuts
// every connection and stops listening.
type tcpRelay struct {
	lis    net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	frozen chan struct{} // while not nil, nothing is forwarded
	wg     sync.WaitGroup
}

func startRelay(t *testing.T, target string) *tcpRelay {
	lis, err := testports.Listen()
	if err != nil {
		t.Fatal(err)
	}
	r := &tcpRelay{lis: lis}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			in, err := lis.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, in, out)
			r.mu.Unlock()
			r.wg.Add(2)
			go func() { defer r.wg.Done(); io.Copy(out, r.pausable(in)); out.Close() }()
			go func() { defer r.wg.Done(); io.Copy(in, r.pausable(out)); in.Close() }()
		}
	}()
	t.Cleanup(r.close)
	return r
}

func (r *tcpRelay) addr() string { return r.lis.Addr().String() }

// freeze stops forwarding, as a tablet that hangs stops reading; thaw
// resumes.
func (r *tcpRelay) freeze() {
	r.mu.Lock()
	r.frozen = make(chan struct{})
	r.mu.Unlock()
}

func (r *tcpRelay) thaw() {
	r.mu.Lock()
	if r.frozen != nil {
		close(r.frozen)
		r.frozen = nil
	}
	r.mu.Unlock()
}

type pausableReader struct {
	r  *tcpRelay
	in io.Reader
}

func (r *tcpRelay) pausable(in io.Reader) io.Reader { return pausableReader{r, in} }

func (p pausableReader) Read(b []byte) (int, error) {
	p.r.mu.Lock()
	f := p.r.frozen
	p.r.mu.Unlock()
	if f != nil {
		<-f
	}
	return p.in.Read(b)
}

func (r *tcpRelay) close() {
	r.thaw()
	r.lis.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.wg.Wait()
}
