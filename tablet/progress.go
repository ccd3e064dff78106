package tablet

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
)

// progress tracks the long action a tablet runs (a backup, a restore, a
// binlog replay) for its Status RPC and status page; the action's own
// loop updates it.
type progress struct {
	mu      sync.Mutex
	action  string
	detail  string
	started time.Time
	total   int64
	bytes   atomic.Int64
}

// begin starts tracking an action; end stops it.
func (p *progress) begin(action string, total int64) {
	p.mu.Lock()
	p.action, p.detail, p.started, p.total = action, "", time.Now(), total
	p.mu.Unlock()
	p.bytes.Store(0)
}

func (p *progress) setDetail(detail string, total int64) {
	p.mu.Lock()
	p.detail, p.total = detail, total
	p.mu.Unlock()
	p.bytes.Store(0)
}

func (p *progress) end() {
	p.mu.Lock()
	p.action, p.detail = "", ""
	p.mu.Unlock()
}

func (p *progress) add(n int64) { p.bytes.Add(n) }

// snapshot is the progress now, or nil when no action runs.
func (p *progress) snapshot() *tabletmanagerpb.Progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.action == "" {
		return nil
	}
	return &tabletmanagerpb.Progress{Action: p.action, Detail: p.detail, Bytes: p.bytes.Load(), Total: p.total, StartedUnixNano: p.started.UnixNano()}
}

// progressWriter counts what passes through it.
type progressWriter struct {
	w interface{ Write([]byte) (int, error) }
	p *progress
}

func (w progressWriter) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	w.p.add(int64(n))
	return n, err
}
