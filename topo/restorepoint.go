package topo

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

// Restore points (tablet/restorepoint) live under their keyspace:
// keyspaces/<ks>/restorepoints/<id>. An id is the moment's UTC time,
// 20061231T150405.000000Z, so that ids sort as times do.

func restorePointsDir(ks string) string { return path.Join(keyspacesDir, ks, "restorepoints") }

// RestorePointID returns the id of a restore point taken at t.
func RestorePointID(t time.Time) string { return t.UTC().Format("20060102T150405.000000Z") }

// RestorePointTime parses an id made by RestorePointID.
func RestorePointTime(id string) (time.Time, error) {
	t, err := time.Parse("20060102T150405.000000Z", id)
	if err != nil {
		return time.Time{}, fmt.Errorf("restore point id %q: want a time like 20261208T150405.000000Z", id)
	}
	return t, nil
}

// CreateRestorePoint writes a new restore point (ErrNodeExists if its id
// is taken).
func (s *Server) CreateRestorePoint(ctx context.Context, rp *topodatapb.RestorePoint) error {
	if _, err := RestorePointTime(rp.Id); err != nil {
		return err
	}
	if err := s.createRecord(ctx, path.Join(restorePointsDir(rp.Keyspace), rp.Id), rp); err != nil {
		return fmt.Errorf("create restore point %s/%s: %w", rp.Keyspace, rp.Id, err)
	}
	return nil
}

// GetRestorePoint reads one restore point (ErrNoNode if missing).
func (s *Server) GetRestorePoint(ctx context.Context, ks, id string) (*topodatapb.RestorePoint, error) {
	rp := &topodatapb.RestorePoint{}
	if _, err := s.getRecord(ctx, path.Join(restorePointsDir(ks), id), rp); err != nil {
		return nil, fmt.Errorf("get restore point %s/%s: %w", ks, id, err)
	}
	return rp, nil
}

// ListRestorePoints returns the restore points of ks, oldest first.
func (s *Server) ListRestorePoints(ctx context.Context, ks string) ([]*topodatapb.RestorePoint, error) {
	dir := restorePointsDir(ks) + "/"
	kvs, err := s.store.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	var out []*topodatapb.RestorePoint
	for _, kv := range kvs {
		if strings.Contains(strings.TrimPrefix(kv.Key, dir), "/") {
			continue
		}
		rp := &topodatapb.RestorePoint{}
		if err := Unmarshal(kv.Value, rp); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, rp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return out, nil
}

// LatestRestorePoint returns the newest restore point of ks at or before
// t (ErrNoNode if none).
func (s *Server) LatestRestorePoint(ctx context.Context, ks string, t time.Time) (*topodatapb.RestorePoint, error) {
	rps, err := s.ListRestorePoints(ctx, ks)
	if err != nil {
		return nil, err
	}
	for i := len(rps) - 1; i >= 0; i-- {
		if rps[i].TimeUnixNano <= t.UnixNano() {
			return rps[i], nil
		}
	}
	return nil, fmt.Errorf("no restore point of keyspace %s at or before %s: %w", ks, t.UTC().Format(time.RFC3339Nano), ErrNoNode)
}

// DeleteRestorePoint removes one restore point.
func (s *Server) DeleteRestorePoint(ctx context.Context, ks, id string) error {
	return s.store.Delete(ctx, path.Join(restorePointsDir(ks), id), 0)
}
