package proxy

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/packet"
	"github.com/go-mysql-org/go-mysql/server"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// clientConn is one client connection: the go-mysql connection for
// handshake and packet reading, our packet writer for responses, and the
// session.
type clientConn struct {
	g   *Gate
	c   *server.Conn
	pw  *packetWriter
	s   *Session
	log *slog.Logger

	mu          sync.Mutex
	cancelQuery context.CancelFunc
	closed      atomic.Bool
}

// handshakeHandler takes the database named in the handshake; go-mysql
// calls only UseDB on it, the command loop is ours.
type handshakeHandler struct {
	server.EmptyHandler
	g        *Gate
	keyspace string
	shard    string
	tt       string
	target   string
}

func (h *handshakeHandler) UseDB(db string) error {
	if err := h.g.checkKeyspace(context.Background(), db); err != nil {
		return toMyError(err)
	}
	h.target = db
	return nil
}

func toMyError(err error) *mysql.MyError {
	e := sqlerr.FromError(err)
	return &mysql.MyError{Code: e.Num, State: e.State, Message: e.Message}
}

// checkKeyspace validates a `USE` target, waiting briefly for the first
// topology load so that a client connecting right after start-up works.
func (g *Gate) checkKeyspace(ctx context.Context, target string) error {
	ks, _, _, err := parseUseTarget(target)
	if err != nil {
		return err
	}
	select {
	case <-g.loaded:
	case <-time.After(g.cfg.TabletWait):
	case <-ctx.Done():
	}
	if !g.keyspaceExists(ks) {
		return sqlerr.New(sqlerr.ERBadDB, "Unknown database '%s'", ks)
	}
	return nil
}

func (g *Gate) serveConn(ctx context.Context, nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	n := g.connCount.Add(1)
	defer g.connCount.Add(-1)
	if g.cfg.MaxConnections > 0 && n > int64(g.cfg.MaxConnections) {
		g.refuse(nc, sqlerr.New(sqlerr.ERConCount, "Too many connections"))
		return
	}
	h := &handshakeHandler{g: g}
	c, err := g.mysql.NewCustomizedConn(nc, g.creds, h)
	if err != nil {
		g.log.Debug("client handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
		nc.Close()
		return
	}
	s := NewSession(c.ConnectionID(), c.GetUser())
	if h.target != "" {
		s.Keyspace, s.Shard, s.TabletType, _ = parseUseTarget(h.target)
	}
	cc := &clientConn{
		g:   g,
		c:   c,
		pw:  newPacketWriter(c.Conn, c.Conn.Conn),
		s:   s,
		log: g.log.With("conn", s.ConnID),
	}
	g.conns.Store(s.ConnID, cc)
	g.m.connections.Inc()
	defer func() {
		g.conns.Delete(s.ConnID)
		g.m.connections.Dec()
		cc.close()
		// A client that goes away leaves no transaction behind.
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Rollback(rctx); err != nil {
			cc.log.Warn("rollback on disconnect failed", "err", err)
		}
	}()
	cc.loop(ctx)
}

// refuse writes an error as the first packet and closes the connection,
// as mysqld does when it turns a client away.
func (g *Gate) refuse(nc net.Conn, err error) {
	pc := packet.NewConn(nc)
	pw := newPacketWriter(pc, nc)
	pw.writeError(err)
	pw.flush()
	nc.Close()
}

func (cc *clientConn) close() {
	if cc.closed.CompareAndSwap(false, true) {
		cc.c.Close()
	}
}

// loop reads and answers commands until the client leaves or ctx ends.
func (cc *clientConn) loop(ctx context.Context) {
	stop := context.AfterFunc(ctx, cc.close)
	defer stop()
	for {
		cc.c.ResetSequence()
		data, err := cc.c.ReadPacket()
		if err != nil {
			return
		}
		if len(data) == 0 {
			return
		}
		if quit := cc.dispatch(ctx, data[0], data[1:]); quit {
			return
		}
		if err := cc.pw.flush(); err != nil {
			return
		}
	}
}

// dispatch answers one command. It returns true when the connection ends.
func (cc *clientConn) dispatch(ctx context.Context, cmd byte, data []byte) bool {
	var err error
	switch cmd {
	case mysql.COM_QUIT:
		return true
	case mysql.COM_PING:
		err = cc.writeOK(0, 0)
	case mysql.COM_INIT_DB:
		if uerr := cc.use(ctx, string(data)); uerr != nil {
			err = cc.pw.writeError(uerr)
		} else {
			err = cc.writeOK(0, 0)
		}
	case mysql.COM_QUERY:
		err = cc.handleQuery(ctx, string(data))
	case mysql.COM_FIELD_LIST:
		// Old clients ask for a table's columns for completion; an empty
		// list is a valid answer.
		err = cc.pw.writeEOF(cc.s.StatusFlags(), 0)
	default:
		err = cc.pw.writeError(sqlerr.New(sqlerr.ERUnknownCom, "Unknown command %d", cmd))
	}
	return err != nil
}

func (cc *clientConn) writeOK(affected, insertID uint64) error {
	return cc.pw.writeOK(affected, insertID, cc.s.StatusFlags(), 0, "")
}

// use switches the session to `ks`, `ks@type` or `ks:shard`.
func (cc *clientConn) use(ctx context.Context, target string) error {
	target = strings.Trim(strings.TrimSpace(target), "`")
	if err := cc.g.checkKeyspace(ctx, target); err != nil {
		return err
	}
	ks, shard, tt, _ := parseUseTarget(target)
	if cc.s.InTransaction && (tt != cc.s.TabletType) {
		return sqlerr.New(sqlerr.ERCantDoThisInTrans, "cannot change tablet type inside a transaction")
	}
	cc.s.Keyspace, cc.s.Shard, cc.s.TabletType = ks, shard, tt
	return nil
}

// queryContext derives the context of one statement: canceled by KILL
// QUERY, by the connection closing, and by the gate's query timeout.
func (cc *clientConn) queryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	var cancel context.CancelFunc
	if cc.g.cfg.QueryTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, cc.g.cfg.QueryTimeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	cc.mu.Lock()
	cc.cancelQuery = cancel
	cc.mu.Unlock()
	return ctx, func() {
		cc.mu.Lock()
		cc.cancelQuery = nil
		cc.mu.Unlock()
		cancel()
	}
}

// useStatement recognizes `USE x` before parsing, since `ks@replica` and
// `ks:-80` are not identifiers the parser takes.
func useStatement(sql string) (string, bool) {
	s := strings.TrimSpace(sql)
	s = strings.TrimRight(s, "; \t\r\n")
	if len(s) < 4 || !strings.EqualFold(s[:3], "use") || (s[3] != ' ' && s[3] != '\t' && s[3] != '`') {
		return "", false
	}
	return strings.TrimSpace(s[3:]), true
}
