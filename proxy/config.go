package proxy

import (
	"errors"
	"fmt"
	"time"

	"github.com/mosaicdb/mosaic/router"
)

// Config configures a gate.
type Config struct {
	// Cell is the gate's cell: it prefers tablets of this cell.
	Cell string
	// MySQLAddr is where clients connect (host:port).
	MySQLAddr string
	// HTTPAddr serves /metrics, /healthz and /debug/status ("" for none).
	HTTPAddr string
	// ServerVersion is the version the gate announces in the handshake.
	ServerVersion string
	// Users maps user names to plain passwords. Empty means a passwordless
	// root only, which is what the local cluster uses.
	Users map[string]string
	// QueryTimeout bounds each statement (0: no gate limit).
	QueryTimeout time.Duration
	// HealthCheckTimeout drops a tablet whose health stream is silent this long.
	HealthCheckTimeout time.Duration
	// TabletWait is how long a query waits for a serving tablet of its shard
	// (at startup, or while a primary changes) before it fails.
	TabletWait time.Duration
	// MaxConnections caps client connections (0: no cap).
	MaxConnections int
	// Router configures planning.
	Router router.Config
}

// DefaultConfig returns the configuration of the local cluster's gate.
func DefaultConfig() Config {
	return Config{
		Cell:               "zone1",
		MySQLAddr:          "127.0.0.1:15306",
		HTTPAddr:           "127.0.0.1:15000",
		ServerVersion:      "5.5.5-10.11.19-MariaDB-mosaic",
		QueryTimeout:       0,
		HealthCheckTimeout: 6 * time.Second,
		TabletWait:         5 * time.Second,
		MaxConnections:     0,
		Router:             router.DefaultConfig(),
	}
}

// Validate checks a Config.
func (c Config) Validate() error {
	var errs []error
	if c.Cell == "" {
		errs = append(errs, errors.New("cell is empty"))
	}
	if c.MySQLAddr == "" {
		errs = append(errs, errors.New("mysql address is empty"))
	}
	if c.HealthCheckTimeout <= 0 {
		errs = append(errs, fmt.Errorf("health check timeout %v must be positive", c.HealthCheckTimeout))
	}
	if c.TabletWait < 0 || c.QueryTimeout < 0 || c.MaxConnections < 0 {
		errs = append(errs, errors.New("timeouts and limits must not be negative"))
	}
	if err := c.Router.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
