// Package reparent moves a shard's primary: Planned for a healthy shard
// (mosaicctl reparent planned), Emergency when the primary is gone
// (mosaicctl reparent emergency, and the failover controller). Both take
// the shard lock, talk to the tablets through their TabletManager
// services and write the shard record; they never start a tablet.
//
// The safety rules they rely on live in the tablet agent: a tablet takes
// writes only while the shard record names it with its term and it holds
// the shard's primary lease in topo; a primary that the record stops
// naming, or that loses its lease, stops serving and turns read-only.
// Every reparent therefore writes the record before it promotes, and an
// emergency reparent first makes the record name no primary and waits
// for the lease to go, so that two tablets never take writes at once.
//
// Use, with an operator's certificate (package mtls):
//
//	creds := operator.ClientCredentials(mtls.RoleTablet)
//	res, err := reparent.Planned(ctx, ts, "commerce", "0", reparent.Options{Creds: creds})
//	res, err := reparent.Emergency(ctx, ts, "commerce", "0", reparent.Options{Creds: creds, Log: log})
package reparent
