package tablet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
)

// Health means answering. A mysqld process that exists is not a mysqld
// that works: one stopped (SIGSTOP, a frozen VM), stuck in I/O or
// deadlocked keeps its process and its sockets, accepts connections into
// the kernel's backlog and answers nothing. The probe loop asks mysqld a
// real query every MysqldProbeInterval, each bounded by MysqldProbeTimeout
// (the connection included). While the last probe failed the tablet does
// not serve, its health says why (RealtimeStats.mysqld_unresponsive), and
// a fenced primary does not wait for such a mysqld to turn read-only: it
// kills it (fence.go).

// mysqldProbe asks one mysqld whether it answers. It keeps one connection
// between probes; it is used by one goroutine at a time.
type mysqldProbe struct {
	params  mysqlconn.Params
	timeout time.Duration
	conn    *mysqlconn.Conn
}

// probe runs SELECT 1 and returns nil when mysqld answered within the
// timeout, the connection included. A connection that failed or timed
// out is dropped: what it holds unread is unknown.
func (p *mysqldProbe) probe(ctx context.Context) error {
	deadline := time.Now().Add(p.timeout)
	pctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	err := p.ask(pctx)
	if err != nil {
		p.close()
		// The connection's deadline may fire a moment before the
		// context's.
		if ctx.Err() == nil && !time.Now().Before(deadline) {
			return fmt.Errorf("no answer to the health query within %v: %w", p.timeout, err)
		}
	}
	return err
}

func (p *mysqldProbe) ask(ctx context.Context) error {
	if p.conn == nil {
		c, err := mysqlconn.Dial(ctx, p.params)
		if err != nil {
			return err
		}
		p.conn = c
	}
	c := p.conn
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	if err := c.Exec("SELECT 1"); err != nil {
		return err
	}
	return c.SetReadDeadline(time.Time{})
}

// close drops the probe's connection.
func (p *mysqldProbe) close() {
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn = nil
	}
}

// errMysqldNotRunning is the probe's verdict while the supervisor has no
// running mysqld.
var errMysqldNotRunning = errors.New("mysqld is not running")

// probeLoop probes mysqld until ctx ends: every MysqldProbeInterval, and
// at once when mysqld's state changes. A change of verdict asks for a
// health message at once.
func (a *Agent) probeLoop(ctx context.Context) {
	p := &mysqldProbe{params: a.mysqld.DBAParams(), timeout: a.cfg.MysqldProbeTimeout}
	defer p.close()
	t := time.NewTicker(a.cfg.MysqldProbeInterval)
	defer t.Stop()
	for {
		changed := a.mysqld.Changed()
		starts := a.mysqld.Starts()
		var err error
		if st, _ := a.mysqld.State(); st == mysqlctl.Running {
			err = p.probe(ctx)
		} else {
			p.close()
			err = errMysqldNotRunning
		}
		if ctx.Err() != nil {
			return
		}
		if a.setProbeResult(starts, err) {
			a.kickHealth()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-changed:
		}
	}
}

// setProbeResult records a probe's verdict on the mysqld that started
// starts times, and reports whether the verdict changed.
func (a *Agent) setProbeResult(starts int, err error) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	wasOK := a.probeErr == nil && a.probeStarts == starts
	switch {
	case err == nil:
		a.probeErr, a.probeFailedSince = nil, time.Time{}
	case a.probeErr == nil || a.probeStarts != starts:
		a.probeErr, a.probeFailedSince = err, time.Now()
	default:
		a.probeErr = err
	}
	a.probeStarts = starts
	changed := wasOK != (err == nil)
	if changed && !errors.Is(err, errMysqldNotRunning) {
		if err != nil {
			a.log.Warn("mysqld does not answer", "err", err)
		} else {
			a.log.Info("mysqld answers")
		}
	}
	return changed
}

// mysqldUnanswered returns why mysqld does not answer, or nil when the
// last probe of the mysqld running now succeeded. A mysqld that started
// after the last probe has not failed one yet.
func (a *Agent) mysqldUnanswered() error {
	starts := a.mysqld.Starts()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.probeErr == nil || a.probeStarts != starts || errors.Is(a.probeErr, errMysqldNotRunning) {
		return nil
	}
	return fmt.Errorf("%w (since %s)", a.probeErr, a.probeFailedSince.Format(time.TimeOnly))
}
