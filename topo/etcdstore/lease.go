package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mosaicdb/mosaic/topo"
)

// lease is a key bound to an etcd lease that this process renews.
//
// Renewals are single KeepAliveOnce calls every ttl/5, not the client's
// keepalive stream, so that the holder knows when each confirmed renewal
// was sent: etcd extends the lease from the moment it receives a renewal,
// which is after it was sent, so "sent + ttl" is a lower bound of the
// expiry etcd computes. Lost closes once no renewal sent in the last
// 3/4 ttl has been confirmed, a quarter ttl before etcd could expire it.
type lease struct {
	s     *Store
	key   string // full etcd key
	id    clientv3.LeaseID
	ttl   time.Duration
	lost  chan struct{}
	stop  context.CancelFunc
	done  chan struct{}
	once  sync.Once
	lostM sync.Once
}

// Lease implements topo.Store.
func (s *Store) Lease(ctx context.Context, key string, value []byte, ttl time.Duration) (topo.Lease, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	secs := int64((ttl + time.Second - 1) / time.Second)
	if secs < 2 {
		secs = 2
	}
	grant, err := s.cli.Grant(ctx, secs)
	if err != nil {
		return nil, fmt.Errorf("etcd lease %s: grant: %w", key, err)
	}
	sent := time.Now()
	k := s.key(key)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(value), clientv3.WithLease(grant.ID))).
		Commit()
	if err != nil || !resp.Succeeded {
		s.revokeSoon(ctx, grant.ID)
		if err != nil {
			return nil, fmt.Errorf("etcd lease %s: %w", key, err)
		}
		return nil, topo.ErrNodeExists
	}
	lctx, stop := context.WithCancel(context.Background())
	l := &lease{s: s, key: k, id: grant.ID, ttl: time.Duration(secs) * time.Second, lost: make(chan struct{}), stop: stop, done: make(chan struct{})}
	watch := s.cli.Watch(lctx, k, clientv3.WithRev(resp.Header.Revision+1))
	go l.run(lctx, sent, watch)
	return l, nil
}

func (l *lease) Lost() <-chan struct{} { return l.lost }

func (l *lease) markLost() { l.lostM.Do(func() { close(l.lost) }) }

// run renews the lease and watches its key until the lease is lost or
// released.
func (l *lease) run(ctx context.Context, granted time.Time, watch clientv3.WatchChan) {
	defer close(l.done)
	lastOK := granted
	lostAfter := l.ttl * 3 / 4
	tick := time.NewTicker(l.ttl / 5)
	defer tick.Stop()
	renewed := make(chan time.Time, 1)
	failed := make(chan error, 1)
	inFlight := false
loop:
	for time.Since(lastOK) <= lostAfter {
		deadline := time.NewTimer(time.Until(lastOK.Add(lostAfter)) + time.Millisecond)
		select {
		case <-ctx.Done():
			deadline.Stop()
			return // released
		case <-l.s.stop:
			deadline.Stop()
			break loop
		case <-deadline.C:
		case wr, ok := <-watch:
			if !ok || wr.Err() != nil {
				// Without the watch the holder cannot see the key being
				// taken: count it as lost rather than guess.
				deadline.Stop()
				break loop
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete || clientv3.LeaseID(ev.Kv.Lease) != l.id {
					deadline.Stop()
					break loop
				}
			}
		case t := <-renewed:
			inFlight = false
			if t.After(lastOK) {
				lastOK = t
			}
		case err := <-failed:
			inFlight = false
			if errors.Is(err, rpctypes.ErrLeaseNotFound) {
				deadline.Stop()
				break loop
			}
		case <-tick.C:
			if !inFlight {
				inFlight = true
				go l.renew(ctx, renewed, failed)
			}
		}
		deadline.Stop()
	}
	l.markLost()
	// Stop renewing; the key goes when etcd expires the lease, or now if
	// etcd can still be reached.
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, _ = l.s.cli.Revoke(rctx, l.id)
	cancel()
}

// renew sends one renewal and reports when it was sent, once confirmed.
func (l *lease) renew(ctx context.Context, renewed chan<- time.Time, failed chan<- error) {
	sent := time.Now()
	rctx, cancel := context.WithTimeout(ctx, l.ttl/2)
	defer cancel()
	resp, err := l.s.cli.KeepAliveOnce(rctx, l.id)
	if err == nil && resp.TTL <= 0 {
		err = rpctypes.ErrLeaseNotFound
	}
	if err != nil {
		select {
		case failed <- err:
		default:
		}
		return
	}
	select {
	case renewed <- sent:
	default:
	}
}

// Release implements topo.Lease: it deletes the key if it still belongs to
// this lease, then revokes the lease.
func (l *lease) Release(ctx context.Context) error {
	var err error
	l.once.Do(func() {
		l.stop()
		<-l.done
		l.markLost()
		if cerr := l.s.check(); cerr != nil {
			return
		}
		_, err = l.s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.LeaseValue(l.key), "=", l.id)).
			Then(clientv3.OpDelete(l.key)).
			Commit()
		if _, rerr := l.s.cli.Revoke(ctx, l.id); err == nil && rerr != nil && !errors.Is(rerr, rpctypes.ErrLeaseNotFound) {
			err = rerr
		}
	})
	return err
}
