package tmclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/topo"
)

// InitShardPrimary makes tablet alias the first primary of a shard:
//
//  1. lock the shard; every tablet of the shard must answer Ping;
//  2. write primary_alias and primary_term_start into the shard record (a
//     tablet takes writes only while the record names it);
//  3. InitPrimary on alias with that term (primary lease taken,
//     replication reset, read_only off, semi-sync on where the shard has
//     replicas);
//  4. point every other tablet of the shard at it (SetReplicationSource,
//     replication started).
//
// A shard whose record already names another primary, or that had a
// primary before (a failover is under way), is refused: that is a
// reparent, not an init. Running it again for the same primary is
// harmless. It never makes the shard serve: which shards serve is the
// keyspace record's (a new keyspace's first shards, then traffic
// switches); topo.Server.RebuildSrvKeyspace rewrites a cell's graph from
// it. creds secure the calls to the tablets (an operator's certificate).
// log may be nil.
func InitShardPrimary(ctx context.Context, ts *topo.Server, creds credentials.TransportCredentials, keyspace, shard string, alias *topodatapb.TabletAlias, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	unlock, err := ts.LockShard(ctx, keyspace, shard)
	if err != nil {
		return err
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = unlock.Unlock(uctx)
	}()

	sh, _, err := ts.GetShard(ctx, keyspace, shard)
	if err != nil {
		return err
	}
	if sh.PrimaryAlias != nil && !proto.Equal(sh.PrimaryAlias, alias) {
		return fmt.Errorf("shard %s/%s already has primary %s: use a reparent", keyspace, shard, topo.AliasString(sh.PrimaryAlias))
	}
	if sh.PrimaryAlias == nil && sh.PrimaryTermStartUnixNano != 0 {
		return fmt.Errorf("shard %s/%s had a primary and is being failed over: use mosaicctl reparent emergency", keyspace, shard)
	}
	tablets, err := ts.ShardTablets(ctx, keyspace, shard)
	if err != nil {
		return err
	}
	var primary *topodatapb.Tablet
	for _, t := range tablets {
		if proto.Equal(t.Alias, alias) {
			primary = t
		}
	}
	if primary == nil {
		return fmt.Errorf("tablet %s is not in shard %s/%s", topo.AliasString(alias), keyspace, shard)
	}

	clients := map[string]*Client{}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for _, t := range tablets {
		c, err := DialTablet(t, creds)
		if err != nil {
			return err
		}
		clients[topo.AliasString(t.Alias)] = c
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = c.TM.Ping(pctx, &tabletmanagerpb.PingRequest{})
		cancel()
		if err != nil {
			return fmt.Errorf("tablet %s does not answer: %w", topo.AliasString(t.Alias), err)
		}
	}

	term := time.Now().UnixNano()
	if proto.Equal(sh.PrimaryAlias, alias) && sh.PrimaryTermStartUnixNano != 0 {
		term = sh.PrimaryTermStartUnixNano
	}
	if _, err := ts.UpdateShardFields(ctx, keyspace, shard, func(s *topodatapb.Shard) error {
		s.PrimaryAlias = alias
		s.PrimaryTermStartUnixNano = term
		return nil
	}); err != nil {
		return fmt.Errorf("update shard record: %w", err)
	}
	resp, err := clients[topo.AliasString(alias)].TM.InitPrimary(ctx, &tabletmanagerpb.InitPrimaryRequest{PrimaryTermStartUnixNano: term})
	if err != nil {
		return fmt.Errorf("InitPrimary on %s: %w", topo.AliasString(alias), err)
	}
	log.Info("primary initialized", "keyspace", keyspace, "shard", shard, "tablet", topo.AliasString(alias), "position", resp.Position)

	var errs []error
	for _, t := range tablets {
		if proto.Equal(t.Alias, alias) {
			continue
		}
		_, err := clients[topo.AliasString(t.Alias)].TM.SetReplicationSource(ctx, &tabletmanagerpb.SetReplicationSourceRequest{
			Parent:           alias,
			Host:             primary.Hostname,
			Port:             primary.MysqlPort,
			StartReplication: true,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("SetReplicationSource on %s: %w", topo.AliasString(t.Alias), err))
			continue
		}
		log.Info("replica points at the new primary", "tablet", topo.AliasString(t.Alias), "primary", topo.AliasString(alias))
	}
	return errors.Join(errs...)
}
