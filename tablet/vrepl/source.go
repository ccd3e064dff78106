package vrepl

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// Source serves the tablet's own mysqld to the streams of target tablets:
// rows from consistent snapshots (StreamRows) and binlog row changes
// (StreamEvents). It keeps no state between calls.
type Source struct {
	cfg Config
	// params reach the local mysqld with an account that may read every
	// table and the binlog (Accounts.Source).
	params mysqlconn.Params
	// socket is the unix socket the binlog stream dials.
	socket string
	db     string
	log    *slog.Logger
}

// NewSource returns the source side of the tablet whose keyspace data is
// in database db.
func NewSource(cfg Config, acc Accounts, socket, db string, log *slog.Logger) *Source {
	p := acc.Source
	p.DB = db
	return &Source{cfg: cfg, params: p, socket: socket, db: db, log: log.With("component", "vrepl-source")}
}

// dial opens a connection for a stream, cut when ctx ends.
func (s *Source) dial(ctx context.Context, setup ...string) (*mysqlconn.Conn, func(), error) {
	c, err := mysqlconn.Dial(ctx, s.params)
	if err != nil {
		return nil, nil, status.Errorf(codes.Unavailable, "source mysqld: %v", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	for _, q := range setup {
		if err := c.Exec(q); err != nil {
			stop()
			c.Close()
			return nil, nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	return c, func() { stop(); c.Close() }, nil
}
