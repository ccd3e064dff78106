package proxy

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"google.golang.org/grpc"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// bulkGateway is a lineGateway whose tablets also commit and roll back
// (recording it) and refuse, with a duplicate key, a statement holding
// failOn.
type bulkGateway struct {
	*lineGateway
	failOn string
}

func (g *bulkGateway) Call(ctx context.Context, target *querypb.Target, fn func(*tabletgw.TabletHealth) error) error {
	return fn(&tabletgw.TabletHealth{Alias: target.Shard, Target: target, Client: bulkTablet{lineTablet{g: g.lineGateway}, g}})
}

type bulkTablet struct {
	lineTablet
	g *bulkGateway
}

func (bt bulkTablet) fail(sql string) error {
	if bt.g.failOn != "" && strings.Contains(sql, bt.g.failOn) {
		return sqlerr.New(sqlerr.ERDupEntry, "Duplicate entry '%s' for key 'PRIMARY'", bt.g.failOn)
	}
	return nil
}

func (bt bulkTablet) Execute(ctx context.Context, in *querypb.ExecuteRequest, opts ...grpc.CallOption) (*querypb.ExecuteResponse, error) {
	if in.Sql == "SELECT 1" { // the commit's check that the transaction is there
		return &querypb.ExecuteResponse{Result: &querypb.QueryResult{}}, nil
	}
	if err := bt.fail(in.Sql); err != nil {
		bt.line("Execute", in.Target, in.TransactionId, "failed")
		return nil, err
	}
	return bt.lineTablet.Execute(ctx, in, opts...)
}

func (bt bulkTablet) BeginExecute(ctx context.Context, in *querypb.BeginExecuteRequest, opts ...grpc.CallOption) (*querypb.BeginExecuteResponse, error) {
	if err := bt.fail(in.Sql); err != nil {
		bt.line("BeginExecute", in.Target, 0, "failed")
		// The transaction began; the statement failed in it.
		return &querypb.BeginExecuteResponse{TransactionId: 99, Error: sqlerr.FromError(err).Proto()}, nil
	}
	return bt.lineTablet.BeginExecute(ctx, in, opts...)
}

func (bt bulkTablet) Commit(_ context.Context, in *querypb.CommitRequest, _ ...grpc.CallOption) (*querypb.CommitResponse, error) {
	bt.line("Commit", in.Target, in.TransactionId, "")
	return &querypb.CommitResponse{}, nil
}

func (bt bulkTablet) Rollback(_ context.Context, in *querypb.RollbackRequest, _ ...grpc.CallOption) (*querypb.RollbackResponse, error) {
	bt.line("Rollback", in.Target, in.TransactionId, "")
	return &querypb.RollbackResponse{}, nil
}

// bulkConnOn returns a connection of a gate whose keyspace ks has the
// table t sharded by id over -80 and 80- on gw's fake tablets, logged in
// as a MariaDB client with bulk operations; answers reads its answers.
func bulkConnOn(t *testing.T, gw *bulkGateway) (cc *clientConn, answers func() []byte) {
	t.Helper()
	g := fuzzGate(t, func(c *Config) { c.MaxAllowedPacket = 4 << 20 })
	g.gw = newGateway(gw, false)
	g.router.SetVSchema(router.BuildVSchema([]router.KeyspaceInput{{
		Name: "ks", Shards: []string{"-80", "80-"},
		VSchema: &vschemapb.Keyspace{
			Sharded:  true,
			Vindexes: map[string]*vschemapb.Vindex{"hash": {Type: "hash"}},
			Tables:   map[string]*vschemapb.Table{"t": {ColumnVindexes: []*vschemapb.ColumnVindex{{Column: "id", Name: "hash"}}}},
		},
	}}, nil))
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	pc := &mysqlsrv.PacketConn{Conn: mysqlsrv.NewBufConn(server)}
	cc = &clientConn{g: g, pc: pc, pw: mysqlsrv.NewPacketWriter(pc), connID: 1, remote: "127.0.0.1:9",
		in: mysqlsrv.PacketBuffer{Max: g.cfg.MaxAllowedPacket, Budget: g.mem}, stmts: preparedStmts{budget: g.mem},
		log: g.log, capability: allCaps, extCapability: extStmtBulkOperations}
	cc.s = cc.newSession("ks")
	cc.stmts.add(&preparedStmt{sql: "insert into t (id, v) values (?, ?)", numParams: 2})
	got := make(chan []byte, 16)
	go func() {
		for {
			var h [4]byte
			if _, err := io.ReadFull(client, h[:]); err != nil {
				close(got)
				return
			}
			p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
			if _, err := io.ReadFull(client, p); err != nil {
				close(got)
				return
			}
			got <- p
		}
	}()
	return cc, func() []byte { return <-got }
}

// bulkInsertPacket is COM_STMT_BULK_EXECUTE (without its command byte) of
// statement 1 for rows (id, 'v<id>').
func bulkInsertPacket(ids ...int) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 1)
	b = binary.LittleEndian.AppendUint16(b, mysqlsrv.BulkSendTypes)
	b = append(b, mysql.MYSQL_TYPE_LONGLONG, 0, mysql.MYSQL_TYPE_VAR_STRING, 0)
	for _, id := range ids {
		b = append(b, 0)
		b = binary.LittleEndian.AppendUint64(b, uint64(id))
		v := fmt.Sprintf("v%d", id)
		b = append(b, 0, byte(len(v)))
		b = append(b, v...)
	}
	return b
}

// lineKinds counts the recorded calls by their first two words ("Commit
// ks/-80").
func lineKinds(lines []string) map[string]int {
	out := map[string]int{}
	for _, l := range lines {
		f := strings.Fields(l)
		out[f[0]+" "+f[1]]++
	}
	return out
}

// A batch under autocommit runs in a transaction of its own: one INSERT
// per shard and chunk (16384 values: 8192 rows of two), then a commit on
// each shard. One failing chunk rolls every shard back, the chunks that
// ran included, and the client gets the failure alone.
func TestBulkInsertChunksInOwnTransaction(t *testing.T) {
	gw := &bulkGateway{lineGateway: newLineGateway()}
	cc, answer := bulkConnOn(t, gw)
	run := func(packet []byte) {
		cc.dispatch(context.Background(), mysqlsrv.ComStmtBulkExecute, packet)
		cc.pw.Flush()
	}
	ids := make([]int, 10000) // two chunks
	for i := range ids {
		ids[i] = i + 1
	}
	go run(bulkInsertPacket(ids...))
	ok := answer()
	if ok[0] != 0 {
		t.Fatalf("answer % x", ok[:min(len(ok), 64)])
	}
	// The fake tablets report 1 row per statement: 2 shards x 2 chunks.
	if affected, _ := lenEncInt(ok[1:]); affected != 4 {
		t.Errorf("rows affected %d, want the statements' 4", affected)
	}
	kinds := lineKinds(gw.taken())
	want := map[string]int{"BeginExecute ks/-80": 1, "BeginExecute ks/80-": 1, "Execute ks/-80": 1, "Execute ks/80-": 1, "Commit ks/-80": 1, "Commit ks/80-": 1}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("calls %v, want %v", kinds, want)
	}
	if cc.s.InTransaction {
		t.Error("the batch's transaction is still open")
	}

	// The second chunk fails on one shard.
	gw.failOn = "v9999"
	go run(bulkInsertPacket(ids...))
	if e := answer(); errCode(e) != sqlerr.ERDupEntry || strings.Contains(string(e), "rolled back") {
		t.Fatalf("answer % x", e)
	}
	kinds = lineKinds(gw.taken())
	if kinds["Rollback ks/-80"] != 1 || kinds["Rollback ks/80-"] != 1 || kinds["Commit ks/-80"]+kinds["Commit ks/80-"] != 0 {
		t.Errorf("calls %v: want both shards rolled back, none committed", kinds)
	}
	if cc.s.InTransaction {
		t.Error("the batch's transaction is still open")
	}
}

// Inside the client's transaction a batch whose second chunk fails
// cannot be undone alone: the transaction is rolled back, and the error
// says so; one that fails in its first chunk leaves the transaction be.
func TestBulkInsertInClientTransaction(t *testing.T) {
	gw := &bulkGateway{lineGateway: newLineGateway()}
	cc, answer := bulkConnOn(t, gw)
	run := func(packet []byte) {
		cc.dispatch(context.Background(), mysqlsrv.ComStmtBulkExecute, packet)
		cc.pw.Flush()
	}
	cc.s.beginTx(txCharacteristics{})
	gw.failOn = "v2'"
	go run(bulkInsertPacket(1, 2, 3))
	if e := answer(); errCode(e) != sqlerr.ERDupEntry || strings.Contains(string(e), "rolled back") {
		t.Fatalf("first chunk: % x", e)
	}
	if !cc.s.InTransaction {
		t.Fatal("a batch failing in its first chunk ended the transaction")
	}
	gw.taken()
	ids := make([]int, 10000)
	for i := range ids {
		ids[i] = i + 100
	}
	gw.failOn = "v10099'"
	go run(bulkInsertPacket(ids...))
	if e := answer(); errCode(e) != sqlerr.ERDupEntry || !strings.Contains(string(e), "the transaction was rolled back") {
		t.Fatalf("second chunk: %q", e)
	}
	if cc.s.InTransaction {
		t.Error("the transaction is still open")
	}
	if kinds := lineKinds(gw.taken()); kinds["Rollback ks/-80"]+kinds["Rollback ks/80-"] == 0 {
		t.Errorf("calls %v: no rollback", kinds)
	}
}

func lenEncInt(b []byte) (uint64, int) {
	switch b[0] {
	case 0xfc:
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3
	case 0xfd:
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4
	case 0xfe:
		return binary.LittleEndian.Uint64(b[1:]), 9
	}
	return uint64(b[0]), 1
}
