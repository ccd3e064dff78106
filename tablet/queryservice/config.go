package queryservice

import (
	"errors"
	"time"
)

// Config tunes the query service.
type Config struct {
	// PoolSize is the number of connections for queries outside
	// transactions; a request waits for a free one until its deadline.
	PoolSize int
	// TxPoolSize is the number of connections for transactions.
	TxPoolSize int
	// QueryTimeout is the deadline of a query whose request sets none.
	QueryTimeout time.Duration
	// TxIdleTimeout rolls back a transaction unused for this long.
	TxIdleTimeout time.Duration
	// MaxRows fails a non-streamed result past this many rows, when the
	// request sets no limit of its own.
	MaxRows int
	// StreamChunkBytes is the size of the row chunks StreamExecute sends.
	StreamChunkBytes int
	// ReservedPoolSize is the number of connections for reserved
	// connections (the gate's lock sessions, one per client session that
	// uses GET_LOCK).
	ReservedPoolSize int
	// ReservedTimeout releases a reserved connection whose caller has not
	// run a statement on it nor heartbeated it for this long (the gate
	// heartbeats its lock sessions every few seconds), so a dead gate's
	// locks do not outlive it.
	ReservedTimeout time.Duration
	// KillGrace is how long a killed query may take to return before its
	// connection is cut.
	KillGrace time.Duration
	// TwoPCProofRetention is how long a committed XA branch's proof row
	// (_mosaic.dt_branch) is kept: while it is, a resolver asking to commit
	// the branch again is told it committed. It must outlast any
	// distributed transaction left unresolved (a shard down that long).
	TwoPCProofRetention time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		PoolSize:         16,
		TxPoolSize:       16,
		QueryTimeout:     30 * time.Second,
		TxIdleTimeout:    30 * time.Second,
		MaxRows:          100000,
		StreamChunkBytes: 64 << 10,
		KillGrace:        5 * time.Second,
		ReservedPoolSize: 32,
		ReservedTimeout:  30 * time.Second,

		TwoPCProofRetention: 24 * time.Hour,
	}
}

// Validate checks a Config.
func (c Config) Validate() error {
	var errs []error
	if c.PoolSize <= 0 || c.TxPoolSize <= 0 || c.ReservedPoolSize <= 0 {
		errs = append(errs, errors.New("queryservice: pool sizes must be positive"))
	}
	if c.QueryTimeout <= 0 || c.TxIdleTimeout <= 0 || c.KillGrace <= 0 || c.ReservedTimeout <= 0 || c.TwoPCProofRetention <= 0 {
		errs = append(errs, errors.New("queryservice: timeouts must be positive"))
	}
	if c.MaxRows <= 0 {
		errs = append(errs, errors.New("queryservice: MaxRows must be positive"))
	}
	if c.StreamChunkBytes < 1024 {
		errs = append(errs, errors.New("queryservice: StreamChunkBytes must be at least 1024"))
	}
	return errors.Join(errs...)
}
