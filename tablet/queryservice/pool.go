package queryservice

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// maxIdle is how long a connection may sit in the pool: well below
// mysqld's wait_timeout (8 hours by default), after which mysqld drops it.
const maxIdle = time.Hour

// dirtySettings marks a connection whose session state is unknown (a SET
// or USE ran on it, or applying settings failed): it is reset before reuse.
const dirtySettings = "\x00dirty"

// Pool is a bounded pool of mysqld connections. Get waits for a free slot
// until ctx ends. Safe for concurrent use.
//
// A pool may reach mysqld as several accounts (NewAccountPool): every
// connection belongs to one, an idle connection serves only a request for
// its own, and the size bounds them all together.
type Pool struct {
	accounts []AccountParams
	size     int
	sem      chan struct{}

	// wait observes how long a Get that found no free slot waited.
	wait prometheus.Observer
	// resets counts connections reset (or closed) because a statement
	// may have left state on them.
	resets prometheus.Counter

	mu     sync.Mutex
	idle   []*PooledConn
	live   map[*PooledConn]struct{} // every open connection, idle or on loan
	gen    uint64
	closed bool
}

// PooledConn is a connection on loan from a Pool. Return it with Recycle.
type PooledConn struct {
	*mysqlconn.Conn
	pool *Pool
	gen  uint64
	// account is the index of its account in the pool's accounts.
	account int
	// settings is the key of the session settings applied on it.
	settings string
	// foundRows says it was opened with CLIENT_FOUND_ROWS, which only a
	// new connection can change.
	foundRows bool
	// discard makes Recycle close it (its query was killed).
	discard bool
	// reset makes Recycle reset it (COM_RESET_CONNECTION) before it goes
	// back to the pool, or close it when that fails: a statement may have
	// left state on it that must not reach the next user (leavesState).
	reset bool
	// idleSince is when it went back to the pool.
	idleSince time.Time
}

// AccountParams say how one account reaches mysqld: its connection
// parameters, and statements run on each of its connections after it
// connects and after every reset (session defaults such as a read-only
// session).
type AccountParams struct {
	Params mysqlconn.Params
	Init   []string
}

// NewPool returns a pool of at most size connections made with params.
func NewPool(params mysqlconn.Params, size int) *Pool {
	return NewAccountPool([]AccountParams{{Params: params}}, size)
}

// NewAccountPool returns a pool of at most size connections of the
// accounts; a request names its account by index (0 is the default).
func NewAccountPool(accounts []AccountParams, size int) *Pool {
	return &Pool{accounts: accounts, size: size, sem: make(chan struct{}, size), live: map[*PooledConn]struct{}{}}
}

// settingsKey identifies a list of settings statements.
func settingsKey(settings []string) string {
	switch len(settings) {
	case 0:
		return ""
	case 1:
		return settings[0]
	}
	return strings.Join(settings, ";\n")
}

// Get returns a connection with exactly settings applied. It waits for a
// free slot until ctx ends; errors are *sqlerr.Error.
func (p *Pool) Get(ctx context.Context, settings []string) (*PooledConn, error) {
	return p.get(ctx, settings, false, 0)
}

// GetFor is Get for a client's statement: a connection of opts' account
// with opts' settings, opened with CLIENT_FOUND_ROWS when opts asks for
// it (nil opts: the default account, no settings, no flag).
func (p *Pool) GetFor(ctx context.Context, opts *querypb.ExecuteOptions) (*PooledConn, error) {
	return p.get(ctx, opts.GetSettings(), opts.GetClientFoundRows(), int(opts.GetAccount()))
}

func (p *Pool) get(ctx context.Context, settings []string, foundRows bool, account int) (*PooledConn, error) {
	if account < 0 || account >= len(p.accounts) || p.accounts[account].Params.User == "" {
		return nil, sqlerr.New(sqlerr.ERUnknown, "the tablet has no mysqld account %d for this request", account)
	}
	select {
	case p.sem <- struct{}{}:
	default:
		if p.wait != nil {
			defer func(start time.Time) { p.wait.Observe(time.Since(start).Seconds()) }(time.Now())
		}
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, sqlerr.Wrap(ctxErrNum(ctx), ctx.Err(), "timed out waiting for a mysqld connection (pool of %d)", p.size)
		}
	}
	key := settingsKey(settings)
	pc := p.takeIdle(key, foundRows, account)
	if pc != nil && (time.Since(pc.idleSince) > maxIdle || pc.foundRows != foundRows || pc.account != account) {
		// mysqld has probably dropped it already, or it has the other
		// CLIENT_FOUND_ROWS or account: closing it keeps the pool within
		// its size.
		p.closeConn(pc)
		pc = nil
	}
	if pc != nil && pc.settings != key && pc.settings != "" {
		if err := pc.resetSession(); err != nil {
			p.closeConn(pc)
			pc = nil
		} else {
			pc.settings = ""
		}
	}
	if pc == nil {
		var err error
		if pc, err = p.dial(ctx, foundRows, account); err != nil {
			<-p.sem
			return nil, err
		}
	}
	if pc.settings != key {
		for _, s := range settings {
			if err := pc.Exec(s); err != nil {
				pc.settings = dirtySettings
				pc.Recycle()
				return nil, err
			}
		}
		pc.settings = key
	}
	return pc, nil
}

// takeIdle takes an idle connection, preferring the most recently used
// one of the account with foundRows and the settings key, then one of
// the account with foundRows; it returns another only when there is none
// (the caller closes it: this keeps the pool within its size).
func (p *Pool) takeIdle(key string, foundRows bool, account int) *PooledConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	pick := n - 1
	sameFlag := -1
	for i := n - 1; i >= 0; i-- {
		if p.idle[i].foundRows != foundRows || p.idle[i].account != account {
			continue
		}
		if p.idle[i].settings == key {
			sameFlag = i
			break
		}
		if sameFlag < 0 {
			sameFlag = i
		}
	}
	if sameFlag >= 0 {
		pick = sameFlag
	}
	pc := p.idle[pick]
	p.idle = append(p.idle[:pick], p.idle[pick+1:]...)
	return pc
}

func (p *Pool) dial(ctx context.Context, foundRows bool, account int) (*PooledConn, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	params := p.accounts[account].Params
	params.FoundRows = foundRows
	c, err := mysqlconn.Dial(dctx, params)
	if err != nil {
		if e, ok := err.(*sqlerr.Error); ok {
			return nil, e
		}
		// Nothing ran: another tablet may take the statement.
		e := sqlerr.Wrap(sqlerr.ERServerGone, err, "cannot connect to mysqld: %v", err)
		e.Retryable = true
		return nil, e
	}
	pc := &PooledConn{Conn: c, pool: p, foundRows: foundRows, account: account}
	if err := pc.initSession(); err != nil {
		c.Close()
		return nil, err
	}
	p.mu.Lock()
	pc.gen = p.gen
	p.live[pc] = struct{}{}
	p.mu.Unlock()
	return pc, nil
}

// initSession runs the account's Init statements.
func (pc *PooledConn) initSession() error {
	for _, q := range pc.pool.accounts[pc.account].Init {
		if err := pc.Exec(q); err != nil {
			return err
		}
	}
	return nil
}

// resetSession resets the session (COM_RESET_CONNECTION) and runs the account's
// Init statements again.
func (pc *PooledConn) resetSession() error {
	if err := pc.ResetConnection(); err != nil {
		return err
	}
	return pc.initSession()
}

// closeConn closes a connection of the pool and forgets it.
func (p *Pool) closeConn(pc *PooledConn) {
	p.mu.Lock()
	delete(p.live, pc)
	p.mu.Unlock()
	pc.Close()
}

// RunningStatement is a statement a pooled connection is running.
type RunningStatement struct {
	// Pool names the pool of the connection ("query", "transaction");
	// set by Service.Running.
	Pool string
	// ConnID is mysqld's connection id (the argument of KILL).
	ConnID uint32
	SQL    string
	Since  time.Time
}

// Running returns the statements the pool's connections are running,
// longest-running first.
func (p *Pool) Running() []RunningStatement {
	p.mu.Lock()
	conns := make([]*PooledConn, 0, len(p.live))
	for pc := range p.live {
		conns = append(conns, pc)
	}
	p.mu.Unlock()
	var out []RunningStatement
	for _, pc := range conns {
		if sql, since, ok := pc.Running(); ok {
			out = append(out, RunningStatement{ConnID: pc.ID(), SQL: sql, Since: since})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// Recycle returns the connection to its pool, or closes it when it is
// broken, was killed, or belongs to a generation before a Reset. A
// connection marked for reset is reset first (table locks, user locks,
// temporary tables, prepared statements and the session are dropped), and
// closed when that fails: it never returns to the pool holding state.
func (pc *PooledConn) Recycle() {
	p := pc.pool
	if pc.reset && !pc.discard && !pc.IsBroken() {
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := pc.resetSession(); err != nil {
			pc.discard = true
		} else {
			pc.settings = ""
		}
		_ = pc.SetReadDeadline(time.Time{})
	}
	if pc.reset {
		pc.reset = false
		if p.resets != nil {
			p.resets.Inc()
		}
	}
	p.mu.Lock()
	keep := !p.closed && !pc.discard && !pc.IsBroken() && pc.gen == p.gen
	if keep {
		pc.idleSince = time.Now()
		p.idle = append(p.idle, pc)
	}
	p.mu.Unlock()
	if !keep {
		p.closeConn(pc)
	}
	<-p.sem
}

// Reset closes every idle connection and makes connections on loan close
// when recycled: after mysqld restarted none of them works.
func (p *Pool) Reset() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.gen++
	for _, pc := range idle {
		delete(p.live, pc)
	}
	p.mu.Unlock()
	for _, pc := range idle {
		pc.Close()
	}
}

// Close closes the pool; connections on loan close when recycled.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Reset()
}

// Stats returns how many connections are on loan and the pool's size.
func (p *Pool) Stats() (inUse, size int) {
	return len(p.sem), p.size
}

// ctxErrNum is the MySQL error number for a finished context.
func ctxErrNum(ctx context.Context) uint16 {
	if ctx.Err() == context.DeadlineExceeded {
		return sqlerr.ERQueryTimeout
	}
	return sqlerr.ERQueryInterrupted
}
