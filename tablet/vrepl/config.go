package vrepl

import (
	"errors"
	"fmt"
	"time"
)

// Config tunes the engine.
type Config struct {
	// CopyCycle is how long a stream inserts rows from one snapshot
	// before it catches up with the binlog and opens the next: the longest
	// the binlog waits during the copy.
	CopyCycle time.Duration
	// RowBatchBytes is about how many bytes of rows a source sends per
	// message and a target inserts per statement.
	RowBatchBytes int
	// CopyLoadData makes the copy write rows with LOAD DATA LOCAL (where
	// every column's type allows) rather than INSERTs: cheaper for the
	// target's mysqld and for the engine.
	CopyLoadData bool
	// CopyRowsPerSecond limits how fast each stream copies rows, to spare
	// the source and the target; 0 is no limit.
	CopyRowsPerSecond int
	// RetryDelay and MaxRetryDelay space a failed stream's retries.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// HeartbeatInterval is how often a source's binlog stream says it is
	// alive and current while nothing happens.
	HeartbeatInterval time.Duration
	// LargeTransactionBytes is how many bytes of row changes of one
	// transaction a source holds before it sends them ahead of the
	// transaction's commit; LargeTransactionRows how many writes of one
	// source transaction a target holds before it applies them in a
	// transaction it commits with the source's. They bound memory on both
	// ends for transactions of any size.
	LargeTransactionBytes int
	LargeTransactionRows  int
	// PositionSaveInterval bounds how long a stream keeps an applied
	// position of transactions it had nothing to apply from before it
	// stores it.
	PositionSaveInterval time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		CopyCycle:             time.Minute,
		RowBatchBytes:         256 << 10,
		CopyLoadData:          true,
		RetryDelay:            500 * time.Millisecond,
		MaxRetryDelay:         30 * time.Second,
		HeartbeatInterval:     time.Second,
		PositionSaveInterval:  time.Second,
		LargeTransactionBytes: 8 << 20,
		LargeTransactionRows:  20000,
	}
}

// Validate checks a Config.
func (c Config) Validate() error {
	var errs []error
	if c.CopyCycle <= 0 {
		errs = append(errs, fmt.Errorf("vrepl: copy cycle %v must be positive", c.CopyCycle))
	}
	if c.RowBatchBytes < 1024 {
		errs = append(errs, fmt.Errorf("vrepl: row batch of %d bytes is below 1 KiB", c.RowBatchBytes))
	}
	if c.CopyRowsPerSecond < 0 {
		errs = append(errs, fmt.Errorf("vrepl: copy rate %d is negative (0: no limit)", c.CopyRowsPerSecond))
	}
	if c.RetryDelay <= 0 || c.MaxRetryDelay < c.RetryDelay {
		errs = append(errs, errors.New("vrepl: retry delays must be positive, the max at least the first"))
	}
	if c.LargeTransactionBytes <= 0 || c.LargeTransactionRows <= 0 {
		errs = append(errs, errors.New("vrepl: large transaction bounds must be positive"))
	}
	if c.HeartbeatInterval <= 0 || c.PositionSaveInterval <= 0 {
		errs = append(errs, errors.New("vrepl: heartbeat and position save intervals must be positive"))
	}
	return errors.Join(errs...)
}
