package topo

import (
	"context"
	"errors"
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
	// Close releases the store's resources; watches end with ErrClosed.
	Close() error
}
