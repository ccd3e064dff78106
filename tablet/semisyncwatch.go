package tablet

import (
	"context"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
)

// The semi-sync watchdog. A semi-sync primary's protection rests on
// mysqld's count of semi-sync replicas, and that count can be wrong for
// good while replicas are connected and healthy: CI once saw a new primary
// count no replica for 53 s after the one healthy replica connected to it
// twice within 85 ms, and a replica that turns its semi-sync side on
// without restarting its IO thread stays uncounted until it reconnects.
// Nothing on the replica side looks wrong. Such a primary's commits wait
// for the whole --semi-sync-timeout; then it falls back to asynchronous
// replication and, since the uncounted replica never acks, never comes
// back: every later commit is acknowledged without a replica holding it,
// silently.
//
// So the primary's tablet watches its own mysqld: when it counts fewer
// semi-sync replicas than the primary waits for acks, while more replicas
// than it counts read its binlog (registered replicas by server id: not the
// archiver or the replication engine's streams), for longer than
// SemiSyncWatchdog, the tablet kills the replication account's dump
// threads (the archiver's too: it resumes from its archive).
// Each replica's IO thread reconnects within its connect retry (1 s) and
// registers afresh, with its semi-sync side as it is set now; the primary
// then counts it, and turns semi-sync back on at the replica's first ack
// if it had fallen back.
//
// What it cannot do on MariaDB 10.11: release a commit already waiting.
// The replica had received that commit's events without acking them, and
// does not receive them again; and while one commit waits for its ack (at
// AFTER_SYNC), no later commit reaches the binlog to be acked instead.
// That commit waits out --semi-sync-timeout, so keep the timeout short
// enough to bear (the default is 10 s) and the watchdog under it.
//
// It cannot tell which connection is the uncounted one, so it drops them
// all; their commits were waiting already. A replica that really has
// semi-sync off would be dropped again and again: the wait doubles after
// each kick, up to a minute, while the shortage lasts.

// semiSyncShortage is what the watchdog saw on one look.
type semiSyncShortage struct {
	acks     int      // acks the primary waits for
	clients  int      // semi-sync replicas mysqld counts
	replicas int      // replicas reading the binlog (registered, tablet server ids)
	dumps    []string // process ids of the replication account's dump threads
}

// short reports whether commits may wait on a count that reconnecting
// would fix.
func (s semiSyncShortage) short() bool {
	return s.acks > 0 && s.clients < s.acks && s.replicas > s.clients
}

// notTabletServerIDs are the server id bits of binlog readers that are not
// replicas: the binlog archiver (archive.go, 1<<30) and the replication
// engine's streams (tablet/vrepl, 1<<31). Tablets' server ids are their
// uids, below both.
const notTabletServerIDs = 1<<30 | 1<<31

// semiSyncLook reads the shortage; ok is false when the tablet is not a
// serving semi-sync primary. It reads the replicas and dump threads only
// when mysqld counts too few semi-sync replicas, so the common look is one
// status read.
func (a *Agent) semiSyncLook(ctx context.Context) (semiSyncShortage, bool, error) {
	a.mu.Lock()
	primary, acks := a.tabletType == topodatapb.TabletType_PRIMARY && a.ready, a.semiSyncAcks
	a.mu.Unlock()
	if !primary || acks <= 0 {
		return semiSyncShortage{}, false, nil
	}
	s := semiSyncShortage{acks: acks}
	var err error
	if s.clients, err = a.flavor.SemiSyncClients(ctx, a.dba); err != nil || s.clients >= acks {
		return s, err == nil, err
	}
	ids, err := a.flavor.ReplicaServerIDs(ctx, a.dba)
	if err != nil {
		return s, false, err
	}
	for _, id := range ids {
		if id&notTabletServerIDs == 0 {
			s.replicas++
		}
	}
	rows, err := a.dba.Query(ctx, "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = "+
		mysqlctl.QuoteString(a.mysqld.ReplicationUser())+" AND COMMAND LIKE 'Binlog Dump%'")
	if err != nil {
		return s, false, err
	}
	for _, r := range rows {
		s.dumps = append(s.dumps, r["id"])
	}
	return s, true, nil
}

// semiSyncWatchdog runs while the agent runs; it acts only while the
// tablet is a semi-sync primary.
func (a *Agent) semiSyncWatchdog(ctx context.Context) {
	grace := a.cfg.SemiSyncWatchdog
	if !a.cfg.SemiSync || a.cfg.SemiSyncAckCount <= 0 || grace <= 0 {
		return
	}
	every := min(grace/3, time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var since time.Time // when the current shortage was first seen
	wait := grace
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		lctx, cancel := context.WithTimeout(ctx, max(every, time.Second))
		s, ok, err := a.semiSyncLook(lctx)
		cancel()
		if err != nil || !ok || !s.short() {
			if err == nil {
				since, wait = time.Time{}, grace
			}
			continue
		}
		now := time.Now()
		if since.IsZero() {
			since = now
			continue
		}
		if now.Sub(since) < wait {
			continue
		}
		a.log.Warn("semi-sync primary counts fewer acking replicas than are connected; making them reconnect",
			"waits_for", s.acks, "counted", s.clients, "connected", s.replicas, "for", now.Sub(since).Round(time.Millisecond))
		kctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		for _, id := range s.dumps {
			if err := a.dba.Exec(kctx, "KILL CONNECTION "+id); err != nil {
				a.log.Warn("cannot end a replication connection", "id", id, "err", err)
			}
		}
		cancel()
		a.mu.Lock()
		a.semiSyncKicks++
		a.mu.Unlock()
		since, wait = now, min(2*wait, time.Minute)
	}
}

// SemiSyncKicks returns how many times the watchdog made replicas
// reconnect.
func (a *Agent) SemiSyncKicks() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.semiSyncKicks
}
