// Package tmclient is the client side of a tablet's gRPC services (the
// TabletManager and Query clients on one connection) and InitShardPrimary,
// which mosaicctl and `mosaic up` run for a new shard. Reparents of a
// shard that has had a primary are in tablet/reparent.
//
// It has no test dependencies and never starts a tablet.
package tmclient
