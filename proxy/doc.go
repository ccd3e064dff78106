// Package proxy is the gate: a MySQL server that clients connect to with any
// standard driver. It authenticates clients, keeps their sessions and
// transactions, asks the router to plan each statement, and runs the plans
// against tablets it discovers through topo and their health streams.
//
// The gate is stateless: everything it knows comes from topo (watched, not
// polled) and from the tablets' health streams. It never talks to mysqld
// directly. Use Gate: New(cfg, topoServer, logger, registry) then Run(ctx).
package proxy
