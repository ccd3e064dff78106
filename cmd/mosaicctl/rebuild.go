package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// rebuildRequest is what `mosaicctl restore --new-primary` asks for.
type rebuildRequest struct {
	keyspace, shard string
	tablet          *topodatapb.TabletAlias // nil: the first tablet that answers
	repair          *tabletmanagerpb.RepairRequest
	force           bool
}

// rebuildShard rebuilds a shard that lost every tablet from its backup
// storage alone: a tablet of the shard (new, empty ones are fine)
// restores the newest backup before the target and replays the archived
// binlog up to it; it is made the shard's primary under a new term; every
// other tablet of the shard then copies it. It refuses while the shard's
// primary answers, unless forced: that shard has not lost its data, and a
// replica is restored with `mosaicctl restore ALIAS`.
func rebuildShard(ctx context.Context, ts *topo.Server, creds credentials.TransportCredentials, r rebuildRequest, out, progress io.Writer) error {
	sh, _, err := ts.GetShard(ctx, r.keyspace, r.shard)
	if err != nil {
		return err
	}
	tablets, err := ts.ShardTablets(ctx, r.keyspace, r.shard)
	if err != nil {
		return err
	}
	sort.Slice(tablets, func(i, j int) bool { return topo.AliasString(tablets[i].Alias) < topo.AliasString(tablets[j].Alias) })
	clients := map[string]*tmclient.Client{}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	var live []*topodatapb.Tablet
	for _, t := range tablets {
		c, err := tmclient.DialTablet(t, creds)
		if err != nil {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = c.TM.Ping(pctx, &tabletmanagerpb.PingRequest{})
		cancel()
		if err != nil {
			c.Close()
			continue
		}
		clients[topo.AliasString(t.Alias)] = c
		live = append(live, t)
	}
	if sh.PrimaryAlias != nil && !r.force {
		if c := clients[topo.AliasString(sh.PrimaryAlias)]; c != nil {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			st, err := c.TM.Status(sctx, &tabletmanagerpb.StatusRequest{})
			cancel()
			if err == nil && st.GetTablet().GetType() == topodatapb.TabletType_PRIMARY && st.GetMysqldRunning() {
				return fmt.Errorf("the primary %s of %s/%s answers: the shard has not lost its tablets (restore a replica with `mosaicctl restore ALIAS`, or give --force to replace the shard's data with the backup storage's)",
					topo.AliasString(sh.PrimaryAlias), r.keyspace, r.shard)
			}
		}
	}
	var target *topodatapb.Tablet
	for _, t := range live {
		if r.tablet == nil || proto.Equal(t.Alias, r.tablet) {
			target = t
			break
		}
	}
	if target == nil {
		if r.tablet != nil {
			return fmt.Errorf("tablet %s of %s/%s does not answer", topo.AliasString(r.tablet), r.keyspace, r.shard)
		}
		return fmt.Errorf("no tablet of %s/%s answers: start one (an empty data dir is fine) with the shard's flags and --backup-storage, then run this again", r.keyspace, r.shard)
	}
	alias := topo.AliasString(target.Alias)
	c := clients[alias]

	stop := watchProgress(ctx, c.TM, progress, "rebuild "+alias)
	resp, err := c.TM.Repair(ctx, r.repair)
	stop()
	if err != nil {
		return fmt.Errorf("rebuild %s from the backup storage: %w", alias, err)
	}
	d := time.Duration(resp.DurationMs) * time.Millisecond
	fmt.Fprintf(out, "%s rebuilt from backup %s and %d archived binlog segments in %v, at position %s\n",
		alias, resp.BackupId, resp.ArchiveSegments, d.Round(time.Millisecond), resp.Position)

	if err := promoteRebuilt(ctx, ts, c, r.keyspace, r.shard, target.Alias); err != nil {
		return err
	}
	if err := ts.RebuildSrvKeyspace(ctx, target.Alias.Cell, r.keyspace); err != nil {
		return fmt.Errorf("rebuild the serving graph of %s in %s: %w", r.keyspace, target.Alias.Cell, err)
	}
	fmt.Fprintf(out, "%s is the primary of %s/%s\n", alias, r.keyspace, r.shard)

	// The shard's other tablets hold nothing, or what the lost primary
	// had: each copies the new primary.
	var errs []error
	for _, t := range live {
		if proto.Equal(t.Alias, target.Alias) {
			continue
		}
		a := topo.AliasString(t.Alias)
		if _, err := clients[a].TM.Repair(ctx, &tabletmanagerpb.RepairRequest{Donor: target.Alias}); err != nil {
			errs = append(errs, fmt.Errorf("%s copies the new primary: %w", a, err))
			continue
		}
		fmt.Fprintf(out, "%s copied the new primary and replicates from it\n", a)
	}
	return errors.Join(errs...)
}

// promoteRebuilt names the rebuilt tablet the shard's primary under a new
// term, with the shard locked, and has it take the primary's role.
func promoteRebuilt(ctx context.Context, ts *topo.Server, c *tmclient.Client, keyspace, shard string, alias *topodatapb.TabletAlias) error {
	unlock, err := ts.LockShard(ctx, keyspace, shard)
	if err != nil {
		return err
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = unlock.Unlock(uctx)
	}()
	term := time.Now().UnixNano()
	if _, err := ts.UpdateShardFields(ctx, keyspace, shard, func(s *topodatapb.Shard) error {
		s.PrimaryAlias = alias
		s.PrimaryTermStartUnixNano = term
		return nil
	}); err != nil {
		return fmt.Errorf("update the shard record: %w", err)
	}
	if _, err := c.TM.InitPrimary(ctx, &tabletmanagerpb.InitPrimaryRequest{PrimaryTermStartUnixNano: term}); err != nil {
		return fmt.Errorf("make %s the primary: %w", topo.AliasString(alias), err)
	}
	return nil
}

// restoreToPoint rebuilds every shard of a keyspace's restore point (or
// one of them) to its position there, one shard after another, with
// rebuildShard. Once all are rebuilt, the keyspace is as it was at that
// instant; the gates' resolver then settles the distributed transactions
// whose branches were left prepared, by the restored decision records.
func restoreToPoint(ctx context.Context, ts *topo.Server, creds credentials.TransportCredentials, keyspace, shard, id string, force bool, out, progress io.Writer) error {
	var rp *topodatapb.RestorePoint
	var err error
	if id == "latest" {
		rp, err = ts.LatestRestorePoint(ctx, keyspace, time.Now())
	} else {
		rp, err = ts.GetRestorePoint(ctx, keyspace, id)
	}
	if err != nil {
		return err
	}
	shards := make([]string, 0, len(rp.Positions))
	for s := range rp.Positions {
		if shard == "" || s == shard {
			shards = append(shards, s)
		}
	}
	if len(shards) == 0 {
		return fmt.Errorf("restore point %s of %s has no shard %s (it has %d shards)", rp.Id, keyspace, shard, len(rp.Positions))
	}
	topo.SortShardNames(shards)
	fmt.Fprintf(out, "restoring %s to restore point %s (%s): %d shards\n", keyspace, rp.Id, time.Unix(0, rp.TimeUnixNano).UTC().Format(time.RFC3339Nano), len(shards))
	for _, s := range shards {
		req := rebuildRequest{keyspace: keyspace, shard: s, force: force,
			repair: &tabletmanagerpb.RepairRequest{FromArchive: true, ToGtid: rp.Positions[s]}}
		if err := rebuildShard(ctx, ts, creds, req, out, progress); err != nil {
			return fmt.Errorf("shard %s: %w", s, err)
		}
	}
	return nil
}
