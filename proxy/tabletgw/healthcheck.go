package tabletgw

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/topo"
)

// Flow-control windows of the gate's connections to tablets: a stream
// may have this much unread before its sender waits.
const (
	tabletStreamWindow = 1 << 20
	tabletConnWindow   = 16 << 20
)

// newTabletConn returns the gate's gRPC client connection to a tablet,
// secured by creds. The TLS server name is the host of the tablet's
// record, whether the connection goes by TCP or by the tablet's socket.
func newTabletConn(d *tabletDialer, creds credentials.TransportCredentials) (*grpc.ClientConn, error) {
	return grpc.NewClient(d.addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithUnaryInterceptor(unsentUnary),
		grpc.WithStreamInterceptor(unsentStream),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30), grpc.MaxCallSendMsgSize(1<<30)),
		// Fixed flow-control windows turn off gRPC's bandwidth-delay
		// estimator, which otherwise sends a PING (and gets an ack) for
		// nearly every response: two more packets per query.
		grpc.WithInitialWindowSize(tabletStreamWindow),
		grpc.WithInitialConnWindowSize(tabletConnWindow),
		grpc.WithContextDialer(d.dial))
}

// TabletHealth is what the gate knows of one tablet: its topo record and
// the latest word from its health stream. Values are immutable snapshots.
type TabletHealth struct {
	Alias            string
	Tablet           *topodatapb.Tablet
	Target           *querypb.Target
	Serving          bool
	PrimaryTermStart int64
	ReplicationLag   uint32
	ReplicationOK    bool
	LastError        string
	LastSeen         time.Time
	// Transport is how the gate reaches the tablet: "unix" (its socket)
	// or "tcp".
	Transport string
	Client    querypb.QueryClient
}

type targetKey struct {
	keyspace   string
	shard      string
	tabletType topodatapb.TabletType
}

func keyOf(t *querypb.Target) targetKey {
	return targetKey{t.GetKeyspace(), t.GetShard(), t.GetTabletType()}
}

// healthSnapshot is an immutable index of serving tablets by target.
type healthSnapshot struct {
	byTarget map[targetKey][]*TabletHealth
}

// HealthCheck discovers tablets through topo and follows each one's health
// stream. Queries read an immutable snapshot without locking.
type HealthCheck struct {
	log     *slog.Logger
	ts      *topo.Server
	timeout time.Duration
	// muxStreams is the number of Multiplex streams per tablet for
	// Execute calls (0: unary calls).
	muxStreams int
	// hostID is this host's sysconn.HostID when the gate may use the unix
	// sockets of tablets on it, "" otherwise.
	hostID string
	// creds secure the connections to tablets (nil refuses to connect).
	creds credentials.TransportCredentials

	mu      sync.Mutex
	entries map[string]*tabletEntry
	changed chan struct{} // closed and replaced on every change

	snap atomic.Pointer[healthSnapshot]
}

type tabletEntry struct {
	tablet *topodatapb.Tablet
	dialer *tabletDialer
	conn   *grpc.ClientConn
	client querypb.QueryClient
	mux    *muxClient // nil: unary Execute
	cancel context.CancelFunc
	done   chan struct{}
	health *TabletHealth
}

// NewHealthCheck returns a HealthCheck; Run starts it.
func NewHealthCheck(log *slog.Logger, ts *topo.Server, timeout time.Duration) *HealthCheck {
	hc := &HealthCheck{log: log, ts: ts, timeout: timeout, entries: map[string]*tabletEntry{}, changed: make(chan struct{})}
	hc.snap.Store(&healthSnapshot{byTarget: map[targetKey][]*TabletHealth{}})
	return hc
}

// Run watches topo for tablets until ctx ends, then stops every stream.
func (hc *HealthCheck) Run(ctx context.Context) {
	defer hc.removeAll()
	go hc.expireSilent(ctx)
	topo.Follow(ctx, topo.Follower{First: 100 * time.Millisecond, Max: 5 * time.Second, Failed: func(err error) { hc.log.Warn("watch tablets failed", "err", err) }},
		hc.ts.WatchTablets,
		func(tablets []*topodatapb.Tablet) { hc.reconcile(ctx, tablets) },
		func(ev topo.TabletEvent) bool {
			if ev.Err != nil {
				hc.log.Warn("tablet watch ended", "err", ev.Err)
				return false
			}
			if ev.Tablet == nil {
				hc.remove(ev.Alias)
			} else {
				hc.upsert(ctx, ev.Tablet)
			}
			return true
		})
}

// reconcile makes the entries match a full list of tablet records.
func (hc *HealthCheck) reconcile(ctx context.Context, tablets []*topodatapb.Tablet) {
	seen := map[string]bool{}
	for _, t := range tablets {
		seen[topo.AliasString(t.Alias)] = true
		hc.upsert(ctx, t)
	}
	hc.mu.Lock()
	var gone []string
	for alias := range hc.entries {
		if !seen[alias] {
			gone = append(gone, alias)
		}
	}
	hc.mu.Unlock()
	for _, a := range gone {
		hc.remove(a)
	}
}

func tabletAddr(t *topodatapb.Tablet) string {
	host := t.Hostname
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(int(t.GrpcPort)))
}

// upsert starts following a tablet, or restarts when its address changed.
func (hc *HealthCheck) upsert(ctx context.Context, t *topodatapb.Tablet) {
	alias := topo.AliasString(t.Alias)
	hc.mu.Lock()
	dialer := newTabletDialer(t, hc.hostID)
	if e, ok := hc.entries[alias]; ok {
		if e.dialer.key() == dialer.key() {
			e.tablet = t
			// Keep the health, refresh the record it carries.
			h := *e.health
			h.Tablet = t
			e.health = &h
			hc.rebuildLocked()
			hc.mu.Unlock()
			return
		}
		hc.mu.Unlock()
		hc.remove(alias)
		hc.mu.Lock()
	}
	conn, err := newTabletConn(dialer, hc.creds)
	if err != nil {
		hc.mu.Unlock()
		hc.log.Warn("dial tablet failed", "tablet", alias, "err", err)
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	e := &tabletEntry{
		tablet: t,
		dialer: dialer,
		conn:   conn,
		client: querypb.NewQueryClient(conn),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	client := e.client
	if hc.muxStreams > 0 {
		e.mux = newMuxClient(e.client, hc.muxStreams)
		client = &tabletClient{QueryClient: e.client, mux: e.mux}
	}
	e.health = &TabletHealth{Alias: alias, Tablet: t, Client: client}
	hc.entries[alias] = e
	hc.rebuildLocked()
	hc.mu.Unlock()
	go func() {
		defer close(e.done)
		hc.follow(sctx, alias, e)
	}()
}

func (hc *HealthCheck) remove(alias string) {
	hc.mu.Lock()
	e, ok := hc.entries[alias]
	if ok {
		delete(hc.entries, alias)
		hc.rebuildLocked()
	}
	hc.mu.Unlock()
	if ok {
		e.cancel()
		<-e.done
		if e.mux != nil {
			e.mux.close()
		}
		e.conn.Close()
	}
}

func (hc *HealthCheck) removeAll() {
	hc.mu.Lock()
	var aliases []string
	for a := range hc.entries {
		aliases = append(aliases, a)
	}
	hc.mu.Unlock()
	for _, a := range aliases {
		hc.remove(a)
	}
}

// follow reads a tablet's health stream, reconnecting with backoff, until
// ctx ends.
func (hc *HealthCheck) follow(ctx context.Context, alias string, e *tabletEntry) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := hc.stream(ctx, alias, e)
		hc.setHealth(alias, func(h *TabletHealth) {
			h.Serving = false
			if err != nil {
				h.LastError = err.Error()
			}
		})
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// stream follows one health stream until it fails or goes silent.
func (hc *HealthCheck) stream(ctx context.Context, alias string, e *tabletEntry) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := e.client.StreamHealth(sctx, &querypb.StreamHealthRequest{})
	if err != nil {
		return err
	}
	// A stream that goes silent is cut so that the tablet is dialed again.
	watchdog := time.AfterFunc(hc.timeout, cancel)
	defer watchdog.Stop()
	for {
		resp, err := st.Recv()
		if err != nil {
			if sctx.Err() != nil && ctx.Err() == nil {
				if e.mux != nil {
					// Calls on the same connection may be stuck too.
					e.mux.breakStreams()
				}
				return fmt.Errorf("health stream silent for %v", hc.timeout)
			}
			return err
		}
		watchdog.Reset(hc.timeout)
		if got := resp.GetTabletAlias(); got != nil && topo.AliasString(got) != alias {
			// The address reaches another tablet: a socket path that
			// names another container's tablet, or a port taken over.
			if e.dialer.giveUpSocket() {
				hc.log.Warn("tablet socket serves another tablet; using TCP", "tablet", alias, "socket", e.dialer.sock, "served_by", topo.AliasString(got))
			}
			return fmt.Errorf("address of tablet %s is served by tablet %s", alias, topo.AliasString(got))
		}
		hc.setHealth(alias, func(h *TabletHealth) {
			h.Target = proto.Clone(resp.Target).(*querypb.Target)
			h.Serving = resp.Serving
			h.PrimaryTermStart = resp.PrimaryTermStartUnixNano
			h.ReplicationLag = resp.GetRealtimeStats().GetReplicationLagSeconds()
			h.ReplicationOK = resp.GetRealtimeStats().GetReplicationRunning()
			h.LastError = resp.GetRealtimeStats().GetHealthError()
			h.LastSeen = time.Now()
			h.Transport = e.dialer.transport()
		})
	}
}

// expireSilent marks tablets whose stream has been silent too long as not
// serving, in case the stream itself has not noticed yet.
func (hc *HealthCheck) expireSilent(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			hc.mu.Lock()
			changed := false
			for _, e := range hc.entries {
				if e.health.Serving && now.Sub(e.health.LastSeen) > hc.timeout {
					h := *e.health
					h.Serving = false
					h.LastError = "health stream silent"
					e.health = &h
					changed = true
				}
			}
			if changed {
				hc.rebuildLocked()
			}
			hc.mu.Unlock()
		}
	}
}

// setHealth applies update to a copy of a tablet's health and publishes it.
func (hc *HealthCheck) setHealth(alias string, update func(*TabletHealth)) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	e, ok := hc.entries[alias]
	if !ok {
		return
	}
	h := *e.health
	update(&h)
	if h.Serving == e.health.Serving && h.PrimaryTermStart == e.health.PrimaryTermStart &&
		h.ReplicationLag == e.health.ReplicationLag && h.ReplicationOK == e.health.ReplicationOK &&
		proto.Equal(h.Target, e.health.Target) && h.LastError == e.health.LastError &&
		h.Transport == e.health.Transport {
		// Only the time moved: the index and its waiters need not know.
		e.health = &h
		return
	}
	e.health = &h
	hc.rebuildLocked()
}

// rebuildLocked publishes a new snapshot and wakes waiters. hc.mu is held.
func (hc *HealthCheck) rebuildLocked() {
	snap := &healthSnapshot{byTarget: map[targetKey][]*TabletHealth{}}
	for _, e := range hc.entries {
		h := e.health
		if h.Serving && h.Target != nil {
			k := keyOf(h.Target)
			snap.byTarget[k] = append(snap.byTarget[k], h)
		}
	}
	hc.snap.Store(snap)
	close(hc.changed)
	hc.changed = make(chan struct{})
}

// Serving returns the serving tablets of a target; the caller must not
// modify the slice.
func (hc *HealthCheck) Serving(keyspace, shard string, tt topodatapb.TabletType) []*TabletHealth {
	return hc.snap.Load().byTarget[targetKey{keyspace, shard, tt}]
}

// All returns every known tablet's latest health, sorted by alias. Unlike
// the snapshot Serving reads, it includes what changes without a rebuild
// (LastSeen).
func (hc *HealthCheck) All() []*TabletHealth {
	hc.mu.Lock()
	all := make([]*TabletHealth, 0, len(hc.entries))
	for _, e := range hc.entries {
		all = append(all, e.health)
	}
	hc.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Alias < all[j].Alias })
	return all
}

// Changed returns a channel closed at the next change of any tablet.
func (hc *HealthCheck) Changed() <-chan struct{} {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	return hc.changed
}
