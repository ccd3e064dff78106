// Package router parses SQL with the TiDB parser, plans each statement
// against the VSchema of its keyspace, and executes the plan's primitives
// against a ShardExecutor.
//
// The router never opens a socket and never imports proxy or tablet: the
// proxy implements ShardExecutor for each client session (it picks tablets
// and holds the session's transactions), and unit tests use an in-memory
// fake. Statements that change the session rather than data (BEGIN, SET,
// USE, ...) come back as plans of kind PlanSession for the proxy to carry
// out; everything else is a tree of primitives.
package router
