// Package tmclient is the client side of a tablet's gRPC services (the
// TabletManager and Query clients on one connection) and the reparent
// steps built on them that mosaicctl and `mosaic up` run, starting with
// InitShardPrimary.
//
// It has no test dependencies and never starts a tablet.
package tmclient
