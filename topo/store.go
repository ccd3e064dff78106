package topo

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every Store returns; callers branch with errors.Is.
var (
	// ErrNoNode: the key does not exist.
	ErrNoNode = errors.New("topo: node does not exist")
	// ErrNodeExists: Create found the key already there.
	ErrNodeExists = errors.New("topo: node already exists")
	// ErrBadVersion: a conditional write found another version.
	ErrBadVersion = errors.New("topo: bad node version")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("topo: store closed")
)

// Version is a record's version: it changes on every write of that key.
// Zero means "any version" where a version is asked for.
type Version int64

// KV is one key with its value and version.
type KV struct {
	Key     string
	Value   []byte
	Version Version
}

// OpKind is what one op of Store.Commit does and the condition it holds.
type OpKind int

const (
	// OpPut writes Value. With a Version the key must be at that version
	// (ErrNoNode when it is missing, ErrBadVersion when it moved);
	// without one it is created or overwritten.
	OpPut OpKind = iota
	// OpCreate writes Value; the key must not exist (ErrNodeExists).
	OpCreate
	// OpDelete deletes the key, which must exist (ErrNoNode) and, with a
	// Version, be at that version (ErrBadVersion).
	OpDelete
	// OpCheck writes nothing: the key must exist (ErrNoNode) and, with a
	// Version, be at that version (ErrBadVersion).
	OpCheck
)

// Op is one step of Store.Commit.
type Op struct {
	Kind    OpKind
	Key     string
	Value   []byte
	Version Version
}

// WatchEvent is one change seen by a watch. Deleted events carry no value.
// An event with Err set is the last one: the watch has ended (for example
// because the store was closed) and the caller should start a new one.
type WatchEvent struct {
	KV
	Deleted bool
	Err     error
}

// Unlocker releases a lock taken with Store.Lock.
type Unlocker interface {
	// Unlock releases the lock. It is safe to call once; ctx bounds the wait.
	Unlock(ctx context.Context) error
	// Lost is closed when the lock is lost before Unlock (the lease expired).
	Lost() <-chan struct{}
}

// Lease is a key that lives only while its holder keeps renewing it: the
// store deletes it once the holder stops (dies, or loses the store) for
// the lease's time to live.
type Lease interface {
	// Lost is closed when the holder can no longer count on holding the
	// key: someone else deleted or overwrote it, or no renewal has been
	// confirmed for so long that the store may expire it soon. It closes
	// before the store would expire the key by itself (a safety margin of
	// a quarter of the time to live), so a holder that stops acting on
	// Lost is done before anyone else can take the key.
	Lost() <-chan struct{}
	// Release deletes the key if it is still the holder's and ends the
	// lease. It is safe to call more than once, and after Lost.
	Release(ctx context.Context) error
}

// Store is the key-value interface a topology backend implements. Keys are
// slash-separated paths without the root prefix; values are opaque bytes.
// Every implementation passes the conformance suite in topo/topotest.
type Store interface {
	// Get returns the value and version of key, or ErrNoNode.
	Get(ctx context.Context, key string) ([]byte, Version, error)
	// Create writes key only if it does not exist (else ErrNodeExists).
	Create(ctx context.Context, key string, value []byte) (Version, error)
	// Update writes key if its version is version (else ErrBadVersion); a
	// zero version writes unconditionally, creating the key if needed.
	Update(ctx context.Context, key string, value []byte, version Version) (Version, error)
	// Delete removes key if its version is version (else ErrBadVersion; zero
	// deletes unconditionally). A missing key is ErrNoNode.
	Delete(ctx context.Context, key string, version Version) error
	// List returns every key under prefix (prefix itself included), sorted
	// by key. The caller owns the returned slice.
	List(ctx context.Context, prefix string) ([]KV, error)
	// Watch returns the current records under prefix and a channel of every
	// later change to them, in order, with no gap between the two. The
	// channel is closed when ctx ends; the watch ends when ctx ends.
	Watch(ctx context.Context, prefix string) ([]KV, <-chan WatchEvent, error)
	// Lock takes an exclusive lock named key, blocking until it is free or
	// ctx ends. A lock whose holder dies is released (lease-backed in etcd).
	Lock(ctx context.Context, key string) (Unlocker, error)
	// Commit applies ops atomically: every op's condition holds and all
	// of them are written, or nothing is. A failed condition returns
	// ErrNoNode, ErrNodeExists or ErrBadVersion (see OpKind), wrapped
	// with the key of the first failed op in ops order. On success it
	// returns the version that every key written now has. A key may
	// appear in ops once; etcd bounds ops to its --max-txn-ops (128 by
	// default).
	Commit(ctx context.Context, ops []Op) (Version, error)
	// Lease creates key with value, held alive for as long as this store
	// renews it (until Release, Close or a loss), or ErrNodeExists when
	// key exists. A holder that dies leaves the key for at most ttl.
	Lease(ctx context.Context, key string, value []byte, ttl time.Duration) (Lease, error)
	// Close releases the store's resources; watches end with ErrClosed.
	Close() error
}
