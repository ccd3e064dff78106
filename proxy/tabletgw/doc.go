// Package tabletgw is the gate's tablet gateway: it discovers tablets
// through topo, follows each one's health stream, picks a serving tablet
// for a target (keyspace, shard, tablet type), dials it (gRPC over TCP or
// the tablet's unix socket, with Execute multiplexed on a few streams),
// buffers primary requests while a shard changes primary or a keyspace
// switches its traffic, and runs the per-shard calls of multi-shard
// statements on long-lived fan-out workers.
//
// It knows nothing of SQL, sessions or the MySQL protocol: a request is a
// target and a function to call on a tablet. It may import topo, proto,
// sqlerr, sysconn and recovered; never router or proxy.
//
// Use it as New(cfg, log, topoServer, registry), then Run(ctx) for the
// health check and the fan-out workers, and Call(ctx, target, fn) to run
// fn on a serving tablet of target.
package tabletgw
