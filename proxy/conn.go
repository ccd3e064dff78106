package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/recovered"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/sysconn"
)

// clientConn is one client connection: mysqlsrv.PacketConn reads packets,
// mysqlsrv.PacketWriter frames responses, and the session holds the client's state.
type clientConn struct {
	g      *Gate
	pc     *mysqlsrv.PacketConn
	pw     *mysqlsrv.PacketWriter
	s      *Session
	acct   *account
	log    *slog.Logger
	connID uint32
	remote string
	// capability is what both the client and the gate support;
	// extCapability the same of MariaDB's extended capabilities.
	capability    uint32
	extCapability uint32
	tls           bool
	// collation is the one the client asked for in its handshake (or
	// its last COM_CHANGE_USER); every new session gets it.
	collation clientCollation
	// salt is the greeting's scramble, which COM_CHANGE_USER answers too.
	salt []byte
	// binaryRows is set while a prepared statement's result is written:
	// rows go out in the binary protocol.
	binaryRows bool
	// limits are the session's statement time limits.
	limits statementLimits
	// multiStatements follows CLIENT_MULTI_STATEMENTS and COM_SET_OPTION.
	multiStatements bool
	// moreResults is set while writing a result that is not the last of
	// a multi-statement query.
	moreResults bool
	in          mysqlsrv.PacketBuffer
	stmts       preparedStmts
	// observed caches the metrics of the last statement (metrics.go).
	observed observed

	// stopTimer is the running statement's time limit, nil without one;
	// endQueryFn is cc.endQuery, made once (timeout.go).
	stopTimer  *time.Timer
	endQueryFn context.CancelFunc
	// stmtBuf is the stmtInfo of the COM_QUERY statement being run, and
	// run what runPlan needs for it: kept here and reused, since a
	// connection runs one statement at a time (query.go).
	stmtBuf stmtInfo
	run     planRun

	mu          sync.Mutex
	cancelQuery context.CancelCauseFunc
	closed      atomic.Bool
	// stmt describes the statement being run.
	stmt *stmtInfo
	// act is what the connection is doing, for SHOW PROCESSLIST; under mu.
	act activity
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

// serveConn serves one client connection until it ends. A panic anywhere
// in it (or raised again here from a goroutine working for it) ends this
// connection only: recovered, logged with its stack and counted.
func (g *Gate) serveConn(ctx context.Context, nc net.Conn) {
	// Deferred first, so it runs last: after the cleanup below, whose
	// own panic it recovers too.
	defer g.recoverConn(nc)
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	n := g.connCount.Add(1)
	defer g.connCount.Add(-1)
	if g.cfg.MaxConnections > 0 && n > int64(g.cfg.MaxConnections) {
		g.refuseTooMany(nc)
		return
	}
	// The connection phase must end within the connect timeout, reads
	// and writes alike (a TLS handshake included).
	hard := time.Now().Add(g.cfg.ConnectTimeout)
	nc.SetDeadline(hard)
	pc := &mysqlsrv.PacketConn{Conn: mysqlsrv.NewBufConn(sysconn.Wrap(nc)), ReadTimeout: g.cfg.NetReadTimeout, HardDeadline: hard, DeadlineSet: true}
	cc := &clientConn{
		g:      g,
		pc:     pc,
		pw:     mysqlsrv.NewPacketWriter(pc),
		connID: g.lastConnID.Add(1),
		remote: nc.RemoteAddr().String(),
		in:     mysqlsrv.PacketBuffer{Max: g.cfg.MaxAllowedPacket, Drain: true, Budget: g.mem},
		stmts:  preparedStmts{budget: g.mem},
	}
	cc.log = g.log.With("conn", cc.connID)
	if err := cc.handshake(ctx); err != nil {
		g.log.Debug("client handshake failed", "remote", cc.remote, "err", err)
		var se *sqlerr.Error
		if errors.As(err, &se) {
			g.m.observeError(err)
		}
		nc.Close()
		return
	}
	nc.SetDeadline(time.Time{})
	pc.HardDeadline, pc.DeadlineSet = time.Time{}, false
	cc.multiStatements = cc.capability&mysql.CLIENT_MULTI_STATEMENTS != 0
	cc.setActivity("Sleep", "")
	g.conns.Store(cc.connID, cc)
	g.m.connections.Inc()
	defer func() {
		g.conns.Delete(cc.connID)
		g.m.connections.Dec()
		cc.close()
		// What the connection held of the memory budget.
		cc.in.Reset()
		cc.stmts.closeAll()
		// A client that goes away leaves no transaction behind.
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cc.s.Rollback(rctx); err != nil {
			cc.log.Warn("rollback on disconnect failed", "err", err)
		}
		// Nor any user-level lock.
		cc.s.releaseLocks(rctx, g.gw.locks)
	}()
	cc.loop(ctx)
}

// recoverConn recovers a panic of the connection nc's goroutine: it is
// logged with its stack and counted, and the connection is closed (its
// session was rolled back by serveConn's cleanup on the way here).
func (g *Gate) recoverConn(nc net.Conn) {
	x := recover()
	if x == nil {
		return
	}
	p := recovered.New(x)
	g.m.panics.Inc()
	g.log.Error("client connection panicked; the connection is closed", "remote", nc.RemoteAddr().String(),
		"panic", fmt.Sprint(p.Value), "stack", string(p.Stack))
	nc.Close()
}

// newSession returns a fresh session for the connection's account, in
// target (a `USE` target, "" for none).
func (cc *clientConn) newSession(target string) *Session {
	name := ""
	if cc.acct != nil {
		name = cc.acct.Name
	}
	s := NewSession(cc.connID, name, cc.g.cfg.TransactionMode)
	s.MaxAllowedPacket = cc.g.cfg.MaxAllowedPacket
	s.SetClientFoundRows(cc.capability&mysql.CLIENT_FOUND_ROWS != 0)
	s.SetReadOnlyAccount(cc.acct != nil && cc.acct.ReadOnly)
	if cc.capability&mysql.CLIENT_IGNORE_SPACE != 0 {
		s.setIgnoreSpace()
	}
	if st, ok, _ := cc.collation.setting(); ok {
		s.SetSettings(withSetting(s.Settings(), st.name, st.sql))
		s.ClientCharset = cc.collation.charsetName()
	}
	s.Host = cc.remote
	if host, _, err := net.SplitHostPort(cc.remote); err == nil {
		s.Host = host
	}
	cc.pw.Account = "'" + name + "'@'" + s.Host + "'"
	if target != "" {
		s.Keyspace, s.Shard, s.TabletType, _ = parseUseTarget(target)
	}
	return s
}

// refuseTooMany turns a client away past max_connections as mysqld does:
// error 1040 as the first packet, instead of the greeting (and, the
// client's capabilities being unknown, without a SQLSTATE), then close.
func (g *Gate) refuseTooMany(nc net.Conn) {
	const msg = "Too many connections"
	code := uint16(sqlerr.ERConCount)
	b := []byte{byte(3 + len(msg)), 0, 0, 0, 0xff, byte(code), byte(code >> 8)}
	b = append(b, msg...)
	nc.SetWriteDeadline(time.Now().Add(g.cfg.ConnectTimeout))
	nc.Write(b)
	g.m.observeError(sqlerr.New(sqlerr.ERConCount, msg))
	nc.Close()
}

func (cc *clientConn) close() {
	if cc.closed.CompareAndSwap(false, true) {
		// The socket itself, not through the packet connection, whose
		// state the connection's goroutine owns (close runs on others:
		// KILL, shutdown).
		cc.pc.Conn.Close()
	}
}

// readCommand reads the next command packet. It waits at most the idle
// timeout for it.
func (cc *clientConn) readCommand() ([]byte, error) {
	cc.pc.Seq = 0
	var idle time.Time
	if t := cc.g.cfg.IdleTimeout; t > 0 {
		idle = time.Now().Add(t)
	}
	return cc.pc.ReadPacket(&cc.in, idle)
}

// loop reads and answers commands until the client leaves or ctx ends.
func (cc *clientConn) loop(ctx context.Context) {
	stop := context.AfterFunc(ctx, cc.close)
	defer stop()
	for {
		data, err := cc.readCommand()
		var refused *sqlerr.Error
		if errors.As(err, &refused) {
			// The memory budget could not spare the packet: it was
			// read and dropped, the connection goes on.
			if cc.refuseCommand(cc.in.Head, refused) != nil || cc.pw.Flush() != nil {
				return
			}
			continue
		}
		if err != nil {
			cc.readFailed(err)
			return
		}
		if len(data) == 0 {
			return
		}
		if h := cc.g.cfg.CommandTestHook; h != nil {
			h(data[0], data[1:])
		}
		if quit := cc.dispatch(ctx, data[0], data[1:]); quit {
			cc.pw.Flush()
			return
		}
		if err := cc.pw.Flush(); err != nil {
			return
		}
	}
}

// refuseCommand answers a command whose packet the memory budget could
// not spare, of which only head (its first bytes) is left: with err, or,
// for the commands that have no answer, as their next execution.
func (cc *clientConn) refuseCommand(head []byte, err *sqlerr.Error) error {
	if len(head) > 0 {
		switch head[0] {
		case mysql.COM_STMT_SEND_LONG_DATA:
			if id, ok := mysqlsrv.StmtIDOf(head[1:]); ok {
				if st := cc.stmts.get(id); st != nil && st.longDataErr == nil {
					cc.stmts.resetLongData(st)
					st.longDataErr = err
				}
			}
			return nil
		case mysql.COM_STMT_CLOSE:
			if id, ok := mysqlsrv.StmtIDOf(head[1:]); ok {
				cc.stmts.close(id)
			}
			return nil
		}
	}
	return cc.writeError(err)
}

// readFailed tells the client why its packet ends the connection, where
// mysqld does: one over max_allowed_packet (1153), one out of sequence
// (1156). A client that went away or was too slow hears nothing.
func (cc *clientConn) readFailed(err error) {
	var e *sqlerr.Error
	switch {
	case errors.Is(err, mysqlsrv.ErrPacketTooLarge):
		e = sqlerr.New(sqlerr.ERNetPacketTooLarge, "Got a packet bigger than 'max_allowed_packet' bytes")
	case errors.Is(err, mysqlsrv.ErrPacketsOutOfOrder):
		e = sqlerr.New(sqlerr.ERPacketsOutOfOrder, "Got packets out of order")
	default:
		return
	}
	cc.g.m.observeError(e)
	cc.pw.WriteError(e)
	cc.pw.Flush()
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
		if len(data) == 0 {
			err = cc.writeError(sqlerr.New(sqlerr.ERNoDB, "No database selected"))
		} else if uerr := cc.use(ctx, string(data)); uerr != nil {
			err = cc.writeError(uerr)
		} else {
			cc.setActivity("Sleep", "")
			err = cc.writeOK(0, 0)
		}
	case mysql.COM_QUERY:
		err = cc.handleQueries(ctx, string(data))
	case mysql.COM_FIELD_LIST:
		err = cc.handleFieldList(ctx, data)
	case mysql.COM_STATISTICS:
		err = cc.handleStatistics()
	case mysql.COM_SET_OPTION:
		err = cc.handleSetOption(data)
	case mysql.COM_RESET_CONNECTION:
		err = cc.handleResetConnection(ctx)
	case mysql.COM_CHANGE_USER:
		if err := cc.handleChangeUser(ctx, data); err != nil {
			return true
		}
		cc.setActivity("Sleep", "")
		return false
	case mysql.COM_PROCESS_KILL:
		err = cc.handleProcessKill(data)
	case mysql.COM_STMT_PREPARE:
		err = cc.handlePrepare(ctx, string(data))
	case mysql.COM_STMT_EXECUTE:
		err = cc.handleExecute(ctx, data)
	case mysql.COM_STMT_SEND_LONG_DATA:
		cc.handleSendLongData(data) // no response
	case mysql.COM_STMT_RESET:
		err = cc.handleStmtReset(data)
	case mysql.COM_STMT_CLOSE:
		cc.handleStmtClose(data) // no response
	case mysql.COM_STMT_FETCH:
		err = cc.handleFetch(data)
	case mysqlsrv.ComStmtBulkExecute:
		err = cc.handleBulkExecute(ctx, data)
	default:
		err = cc.writeError(sqlerr.New(sqlerr.ERUnknownCom, "Unknown command"))
	}
	return err != nil
}

// status returns the server status bits of the next OK or EOF packet.
func (cc *clientConn) status() uint16 {
	f := cc.s.StatusFlags()
	if cc.moreResults {
		f |= mysqlsrv.StatusMoreResultsExists
	}
	return f
}

// writeOK answers a statement the gate carried out itself.
func (cc *clientConn) writeOK(affected, insertID uint64) error {
	cc.s.RowCount = int64(affected)
	return cc.pw.WriteOK(affected, insertID, cc.status(), uint16(cc.s.pendingWarnings()), "")
}

// writeError sends err to the client and counts it.
func (cc *clientConn) writeError(err error) error {
	cc.g.m.observeError(err)
	return cc.pw.WriteError(err)
}

// checkUse validates a `USE` target: the keyspace exists and the account
// may use it (1044 otherwise).
func (cc *clientConn) checkUse(ctx context.Context, target string) error {
	if router.IsInformationSchema(target) {
		// Every account may select it, as in mysqld; its tables are
		// answered by the keyspaces' tablets (router.systemKeyspace).
		return nil
	}
	if err := cc.g.checkKeyspace(ctx, target); err != nil {
		return err
	}
	ks, _, _, _ := parseUseTarget(target)
	return cc.checkKeyspaceAccess(ks)
}

// use switches the session to `ks`, `ks@type` or `ks:shard`.
func (cc *clientConn) use(ctx context.Context, target string) error {
	target = strings.Trim(strings.TrimSpace(target), "`")
	if err := cc.checkUse(ctx, target); err != nil {
		return err
	}
	ks, shard, tt, _ := parseUseTarget(target)
	if cc.s.InTransaction && (tt != cc.s.TabletType) {
		return sqlerr.New(sqlerr.ERCantDoThisInTrans, "cannot change tablet type inside a transaction")
	}
	cc.s.Keyspace, cc.s.Shard, cc.s.TabletType = ks, shard, tt
	return nil
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
