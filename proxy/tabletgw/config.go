package tabletgw

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/credentials"
)

// Config configures a Gateway.
type Config struct {
	// Cell is the gate's cell: replica reads prefer its tablets.
	Cell string
	// TabletWait is how long a request waits for a serving tablet of its
	// shard to appear.
	TabletWait time.Duration
	// MaxReplicaLag keeps replica and rdonly reads off tablets lagging
	// more (0: no limit).
	MaxReplicaLag time.Duration
	// HealthCheckTimeout drops a tablet whose health stream is silent
	// this long.
	HealthCheckTimeout time.Duration
	// TabletStreams is how many Multiplex streams the gateway keeps to
	// each tablet for Execute calls (0: unary calls).
	TabletStreams int
	// HostID is this host's sysconn.HostID when the gateway may reach
	// tablets on the same host through their unix sockets, "" otherwise.
	HostID string
	// Creds secure the connections to tablets (nil refuses to connect).
	Creds credentials.TransportCredentials
	// BufferWindow is how long primary requests wait for a shard's new
	// primary, or for a keyspace's traffic switch to end (0: no
	// buffering).
	BufferWindow time.Duration
	// BufferSize caps the requests waiting in one buffering event.
	BufferSize int
	// FanoutWorkers is how many goroutines wait for per-shard calls.
	FanoutWorkers int
}

// DefaultConfig returns the configuration of the local cluster's gate.
func DefaultConfig() Config {
	return Config{
		Cell:               "zone1",
		TabletWait:         5 * time.Second,
		MaxReplicaLag:      30 * time.Second,
		HealthCheckTimeout: 6 * time.Second,
		TabletStreams:      2,
		BufferWindow:       10 * time.Second,
		BufferSize:         1000,
		FanoutWorkers:      64,
	}
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Cell == "" {
		errs = append(errs, errors.New("cell must be set"))
	}
	if c.HealthCheckTimeout <= 0 {
		errs = append(errs, fmt.Errorf("health check timeout %v must be positive", c.HealthCheckTimeout))
	}
	if c.TabletWait < 0 || c.MaxReplicaLag < 0 || c.BufferWindow < 0 || c.TabletStreams < 0 || c.FanoutWorkers < 0 {
		errs = append(errs, errors.New("durations and counts must not be negative"))
	}
	if c.BufferWindow > 0 && c.BufferSize <= 0 {
		errs = append(errs, fmt.Errorf("buffer size %d must be positive when buffering is on", c.BufferSize))
	}
	return errors.Join(errs...)
}
