package queryservice

import (
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// Broadcaster fans the tablet's health out to StreamHealth subscribers.
// Each subscriber sees the latest message first and then every later one,
// except that a slow subscriber skips to the newest. Safe for concurrent
// use.
type Broadcaster struct {
	mu     sync.Mutex
	latest *querypb.StreamHealthResponse
	subs   map[chan *querypb.StreamHealthResponse]struct{}
	closed bool
}

// NewBroadcaster returns a Broadcaster with nothing published yet.
func NewBroadcaster() *Broadcaster {
	return &Broadcaster{subs: map[chan *querypb.StreamHealthResponse]struct{}{}}
}

// Publish sends msg to every subscriber. The broadcaster keeps msg: the
// caller must not change it afterwards.
func (b *Broadcaster) Publish(msg *querypb.StreamHealthResponse) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.latest = msg
	for ch := range b.subs {
		offer(ch, msg)
	}
}

// offer puts msg in a one-slot channel, replacing an unread older one.
func offer(ch chan *querypb.StreamHealthResponse, msg *querypb.StreamHealthResponse) {
	select {
	case ch <- msg:
		return
	default:
	}
	select {
	case <-ch:
	default:
	}
	select {
	case ch <- msg:
	default:
	}
}

// Latest returns a copy of the last published message, or nil.
func (b *Broadcaster) Latest() *querypb.StreamHealthResponse {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.latest == nil {
		return nil
	}
	return proto.Clone(b.latest).(*querypb.StreamHealthResponse)
}

// Subscribe returns a channel of health messages and a function that ends
// the subscription. Messages are shared: do not modify them. The channel
// is closed when the broadcaster is.
func (b *Broadcaster) Subscribe() (<-chan *querypb.StreamHealthResponse, func()) {
	ch := make(chan *querypb.StreamHealthResponse, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(ch)
		return ch, func() {}
	}
	b.subs[ch] = struct{}{}
	if b.latest != nil {
		ch <- b.latest
	}
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// Close ends every subscription (StreamHealth calls then return, so that
// a server can stop gracefully); later Publish calls do nothing.
func (b *Broadcaster) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
}
