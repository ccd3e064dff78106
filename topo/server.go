package topo

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Server is the typed topology over a Store. It is safe for concurrent use
// and holds no state besides the store.
type Server struct {
	store Store
}

// NewServer returns a Server over store.
func NewServer(store Store) *Server {
	return &Server{store: store}
}

// Store returns the underlying store.
func (s *Server) Store() Store { return s.store }

// Close closes the underlying store.
func (s *Server) Close() error { return s.store.Close() }

// Paths of the records, below the store's root.
const (
	keyspacesDir   = "keyspaces"
	tabletsDir     = "tablets"
	cellsDir       = "cells"
	locksDir       = "locks"
	routingRuleKey = "routing_rules"
)

func keyspacePath(ks string) string     { return path.Join(keyspacesDir, ks) }
func shardsDir(ks string) string        { return path.Join(keyspacesDir, ks, "shards") }
func shardPath(ks, shard string) string { return path.Join(keyspacesDir, ks, "shards", shard) }
func vschemaPath(ks string) string      { return path.Join(keyspacesDir, ks, "vschema") }
func tabletPath(alias string) string    { return path.Join(tabletsDir, alias) }
func servingDir(cell string) string     { return path.Join(cellsDir, cell, "serving") }
func srvKeyspacePath(cell, ks string) string {
	return path.Join(cellsDir, cell, "serving", ks)
}

var (
	marshaler   = protojson.MarshalOptions{UseProtoNames: true, Multiline: true, Indent: "  "}
	unmarshaler = protojson.UnmarshalOptions{DiscardUnknown: true}
)

// Marshal encodes a record as the protojson stored in topo.
func Marshal(m proto.Message) ([]byte, error) {
	return marshaler.Marshal(m)
}

// Unmarshal decodes a stored record, ignoring fields it does not know.
func Unmarshal(data []byte, m proto.Message) error {
	return unmarshaler.Unmarshal(data, m)
}

// getRecord reads key into m.
func (s *Server) getRecord(ctx context.Context, key string, m proto.Message) (Version, error) {
	data, v, err := s.store.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	if err := Unmarshal(data, m); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return v, nil
}

func (s *Server) createRecord(ctx context.Context, key string, m proto.Message) error {
	data, err := Marshal(m)
	if err != nil {
		return err
	}
	_, err = s.store.Create(ctx, key, data)
	return err
}

func (s *Server) updateRecord(ctx context.Context, key string, m proto.Message, v Version) (Version, error) {
	data, err := Marshal(m)
	if err != nil {
		return 0, err
	}
	return s.store.Update(ctx, key, data, v)
}

// updateFields reads key into a fresh message from newMsg, calls update on
// it and writes it back if the version has not moved, retrying on races.
// If update returns ErrNoUpdateNeeded nothing is written. When create is
// true a missing record starts empty.
func updateFields[M proto.Message](ctx context.Context, s *Server, key string, newMsg func() M, create bool, update func(M) error) (M, error) {
	for {
		m := newMsg()
		v, err := s.getRecord(ctx, key, m)
		if errors.Is(err, ErrNoNode) && create {
			v = 0
		} else if err != nil {
			var zero M
			return zero, err
		}
		if err := update(m); err != nil {
			if errors.Is(err, ErrNoUpdateNeeded) {
				return m, nil
			}
			var zero M
			return zero, err
		}
		data, err := Marshal(m)
		if err != nil {
			var zero M
			return zero, err
		}
		if v == 0 {
			_, err = s.store.Create(ctx, key, data)
			if errors.Is(err, ErrNodeExists) {
				continue
			}
		} else {
			_, err = s.store.Update(ctx, key, data, v)
			if errors.Is(err, ErrBadVersion) {
				continue
			}
		}
		if err != nil {
			var zero M
			return zero, err
		}
		return m, nil
	}
}

// ErrNoUpdateNeeded is returned by an update function to skip the write.
var ErrNoUpdateNeeded = errors.New("topo: no update needed")

// childNames returns the direct children names of dir among keys.
func childNames(dir string, kvs []KV) []string {
	prefix := dir + "/"
	seen := map[string]bool{}
	var names []string
	for _, kv := range kvs {
		rest, ok := strings.CutPrefix(kv.Key, prefix)
		if !ok || rest == "" {
			continue
		}
		name, _, _ := strings.Cut(rest, "/")
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
