// Package topotest is the conformance suite every topo.Store passes, and
// runs the typed topo.Server over it.
package topotest
