package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/reconcile"
)

// The local cluster's tablets follow topo: `mosaic up` runs a primary and
// --replicas replicas for every shard that has no tablet, gives each new
// shard its first primary, and stops (and unregisters) the tablets of
// shards that were deleted. What to do is reconcile.Decide's; this file
// reads topo, runs the actions, and runs again on every change of the
// shard or tablet records.
//
// Port layout: a tablet of uid u (100 to 999) listens on mysqld 17000+u,
// gRPC 18000+u and HTTP 19000+u, plus --tablet-port-offset, a multiple of
// 3000: the ports of one cluster span [17100, 20000) + offset, and the
// spans of offsets 0, 3000, ..., 12000 never meet each other, the gate's
// default ports (15306, 15000) or etcd's (2379).

const (
	portOffsetStep = 3000
	maxPortOffset  = 12000
)

// tabletPorts returns the mysqld, gRPC and HTTP ports of tablet uid.
func (c upConfig) tabletPorts(uid uint32) (mysql, grpc, http int) {
	u := int(uid) + c.portOffset
	return 17000 + u, 18000 + u, 19000 + u
}

// validatePortOffset checks --tablet-port-offset.
func validatePortOffset(offset int) error {
	if offset < 0 || offset > maxPortOffset || offset%portOffsetStep != 0 {
		return fmt.Errorf("--tablet-port-offset %d: must be a multiple of %d from 0 to %d (tablet ports span 3000 per cluster)", offset, portOffsetStep, maxPortOffset)
	}
	return nil
}

// localTablet is one tablet the local cluster runs.
type localTablet struct {
	keyspace string
	shard    string
	uid      uint32
	// proc is its supervised process; stop stops it and waits.
	proc *child
	stop func()
}

// reconciler runs the local cluster's tablets.
type reconciler struct {
	c  upConfig
	ts *topo.Server
	// creds secure the calls to the tablets (nil: plaintext).
	creds    credentials.TransportCredentials
	log      *slog.Logger
	dataDir  string
	logDir   string
	self     string
	common   []string
	etcdAddr string
	// secrets is the cluster's secrets file every tablet reads.
	secrets string
	// start runs a supervised child until the returned func stops it.
	start func(*child) func()

	mu    sync.Mutex
	owned map[uint32]*localTablet
}

// alias returns the alias of tablet uid.
func (r *reconciler) alias(uid uint32) string { return fmt.Sprintf("%s-%d", r.c.cell, uid) }

// tabletDir returns the tablet dir of tablet uid.
func (r *reconciler) tabletDir(uid uint32) string {
	return filepath.Join(r.dataDir, "tablets", r.alias(uid))
}

// adopt takes as its own the tablets in topo of its cell whose tablet dir
// is in the data dir: those of an earlier run. They run at the first
// reconcile.
func (r *reconciler) adopt(ctx context.Context) error {
	tablets, err := r.ts.ListTablets(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range tablets {
		if t.Alias.GetCell() != r.c.cell {
			continue
		}
		if _, err := os.Stat(r.tabletDir(t.Alias.Uid)); err == nil {
			r.owned[t.Alias.Uid] = &localTablet{keyspace: t.Keyspace, shard: t.Shard, uid: t.Alias.Uid}
		}
	}
	return nil
}

// state reads what Decide needs: the shard records and the tablets, the
// local cluster's and others'.
func (r *reconciler) state(ctx context.Context) ([]reconcile.Shard, []reconcile.Tablet, error) {
	var shards []reconcile.Shard
	keyspaces, err := r.ts.ListKeyspaces(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, ks := range keyspaces {
		names, err := r.ts.ListShards(ctx, ks)
		if err != nil {
			return nil, nil, err
		}
		for _, sh := range names {
			rec, _, err := r.ts.GetShard(ctx, ks, sh)
			if errors.Is(err, topo.ErrNoNode) {
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			shards = append(shards, reconcile.Shard{Keyspace: ks, Shard: sh, HasPrimary: rec.PrimaryAlias != nil || rec.PrimaryTermStartUnixNano != 0})
		}
	}
	records, err := r.ts.ListTablets(ctx)
	if err != nil {
		return nil, nil, err
	}
	registered := map[uint32]bool{}
	var tablets []reconcile.Tablet
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range records {
		if t.Alias.GetCell() == r.c.cell && r.owned[t.Alias.Uid] != nil {
			registered[t.Alias.Uid] = true
			continue
		}
		tablets = append(tablets, reconcile.Tablet{UID: t.Alias.GetUid(), Keyspace: t.Keyspace, Shard: t.Shard, Registered: true})
	}
	for uid, t := range r.owned {
		tablets = append(tablets, reconcile.Tablet{UID: uid, Keyspace: t.keyspace, Shard: t.shard, Owned: true,
			Registered: registered[uid], Running: t.stop != nil})
	}
	return shards, tablets, nil
}

// once reads topo, decides and runs the actions. It reports whether an
// action failed or waits for something that no topo change announces (a
// primary to init whose tablets do not answer yet): the loop tries again
// soon then.
func (r *reconciler) once(ctx context.Context) (retry bool) {
	shards, tablets, err := r.state(ctx)
	if err != nil {
		r.log.Warn("read the topology to reconcile", "err", err)
		return true
	}
	cfg := reconcile.DefaultConfig()
	cfg.Replicas = r.c.replicas
	actions, err := reconcile.Decide(cfg, shards, tablets)
	if err != nil {
		r.log.Error("cannot place every shard's tablets", "err", err)
	}
	for _, a := range actions {
		if ctx.Err() != nil {
			return false
		}
		switch a.Kind {
		case reconcile.Start:
			r.startTablet(a.Tablet)
		case reconcile.Stop:
			if err := r.stopTablet(ctx, a.Tablet); err != nil {
				r.log.Warn("stop the tablet of a deleted shard", "tablet", r.alias(a.Tablet.UID), "err", err)
				retry = true
			}
		case reconcile.InitPrimary:
			if err := r.initPrimary(ctx, a.Tablet); err != nil {
				r.log.Info("shard primary not initialized yet", "keyspace", a.Tablet.Keyspace, "shard", a.Tablet.Shard, "err", err)
				retry = true
			}
		}
	}
	return retry
}

// startTablet starts tablet t as a supervised child.
func (r *reconciler) startTablet(t reconcile.Tablet) {
	alias := r.alias(t.UID)
	mysqlPort, grpcPort, httpPort := r.c.tabletPorts(t.UID)
	args := append([]string{"tablet"}, r.common...)
	args = append(args,
		"--alias", alias,
		"--keyspace", t.Keyspace,
		"--shard", t.Shard,
		"--tablet-dir", r.tabletDir(t.UID),
		"--grpc-port", strconv.Itoa(grpcPort),
		"--http-port", strconv.Itoa(httpPort),
		"--mysql-port", strconv.Itoa(mysqlPort),
		"--topo-endpoints", r.etcdAddr,
		"--innodb-buffer-pool-size", r.c.bufferPool,
		"--secrets-file", r.secrets,
	)
	args = append(args, r.c.extraTablet...)
	proc := &child{name: alias, path: r.self, args: args, logFile: filepath.Join(r.logDir, alias+".log"), env: childEnv(r.c)}
	stop := r.start(proc)
	r.mu.Lock()
	r.owned[t.UID] = &localTablet{keyspace: t.Keyspace, shard: t.Shard, uid: t.UID, proc: proc, stop: stop}
	r.mu.Unlock()
	r.log.Info("tablet started", "tablet", alias, "keyspace", t.Keyspace, "shard", t.Shard, "mysql_port", mysqlPort)
}

// stopTablet stops a tablet whose shard was deleted, removes its record
// and forgets it. Its tablet dir stays.
func (r *reconciler) stopTablet(ctx context.Context, t reconcile.Tablet) error {
	r.mu.Lock()
	lt := r.owned[t.UID]
	r.mu.Unlock()
	if lt != nil && lt.stop != nil {
		lt.stop()
	}
	alias := &topodatapb.TabletAlias{Cell: r.c.cell, Uid: t.UID}
	if err := r.ts.DeleteTablet(ctx, alias); err != nil && !errors.Is(err, topo.ErrNoNode) {
		return err
	}
	r.mu.Lock()
	delete(r.owned, t.UID)
	r.mu.Unlock()
	r.log.Info("tablet of a deleted shard stopped", "tablet", r.alias(t.UID), "keyspace", t.Keyspace, "shard", t.Shard, "dir", r.tabletDir(t.UID))
	return nil
}

// children returns the processes of the tablets running now, for
// signals.
func (r *reconciler) children() []*child {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*child
	for _, t := range r.owned {
		if t.proc != nil {
			out = append(out, t.proc)
		}
	}
	return out
}

// initPrimary makes t the first primary of its shard.
func (r *reconciler) initPrimary(ctx context.Context, t reconcile.Tablet) error {
	ictx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	alias := &topodatapb.TabletAlias{Cell: r.c.cell, Uid: t.UID}
	if err := tmclient.InitShardPrimary(ictx, r.ts, r.creds, t.Keyspace, t.Shard, alias, r.log); err != nil {
		return err
	}
	return r.ts.RebuildSrvKeyspace(ictx, r.c.cell, t.Keyspace)
}

// run reconciles until ctx ends: at once, on every change of the shard
// and tablet records, and every few seconds while something waits.
func (r *reconciler) run(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(ctx)
		_, shardEvents, err := r.ts.WatchShards(wctx)
		var tabletEvents <-chan topo.TabletEvent
		if err == nil {
			_, tabletEvents, err = r.ts.WatchTablets(wctx)
		}
		if err != nil {
			cancel()
			r.log.Warn("watch the topology to reconcile", "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = time.Second
		r.watchLoop(ctx, shardEvents, tabletEvents)
		cancel()
	}
}

// watchLoop reconciles on each event until a watch ends or ctx does.
func (r *reconciler) watchLoop(ctx context.Context, shardEvents <-chan topo.ShardEvent, tabletEvents <-chan topo.TabletEvent) {
	retry := r.once(ctx)
	for {
		var again <-chan time.Time
		if retry {
			again = time.After(2 * time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-shardEvents:
			if !ok || ev.Err != nil {
				return
			}
		case ev, ok := <-tabletEvents:
			if !ok || ev.Err != nil {
				return
			}
		case <-again:
		}
		// Records change in bursts (a tablet registers, a shard gets
		// its primary): take what else came before deciding.
		quiet := time.NewTimer(100 * time.Millisecond)
	drain:
		for {
			select {
			case ev, ok := <-shardEvents:
				if !ok || ev.Err != nil {
					quiet.Stop()
					return
				}
			case ev, ok := <-tabletEvents:
				if !ok || ev.Err != nil {
					quiet.Stop()
					return
				}
			case <-quiet.C:
				break drain
			case <-ctx.Done():
				quiet.Stop()
				return
			}
		}
		retry = r.once(ctx)
	}
}

// waitPrimaries waits until every shard whose tablets the local cluster
// runs (or is to run) has a primary, or the deadline passes.
func (r *reconciler) waitPrimaries(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		shards, tablets, err := r.state(ctx)
		missing := ""
		if err == nil {
			others := map[string]bool{}
			for _, t := range tablets {
				if !t.Owned {
					others[t.Keyspace+"/"+t.Shard] = true
				}
			}
			for _, s := range shards {
				if !s.HasPrimary && !others[s.Keyspace+"/"+s.Shard] {
					missing = s.Keyspace + "/" + s.Shard
					break
				}
			}
		}
		if err == nil && missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			return fmt.Errorf("shard %s has no primary after %v (see the tablets' logs in %s)", missing, timeout, r.logDir)
		}
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
