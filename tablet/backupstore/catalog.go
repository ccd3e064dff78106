package backupstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"
)

// ErrNoBackup is returned when a shard has no backup that fits.
var ErrNoBackup = errors.New("no backup")

// Manifest describes one full (physical) backup of a shard.
type Manifest struct {
	ID       string `json:"id"`
	Keyspace string `json:"keyspace"`
	Shard    string `json:"shard"`
	// Tablet is the tablet copied.
	Tablet string `json:"tablet"`
	// Position is the GTID position the copy is consistent with.
	Position     string `json:"position"`
	Flavor       string `json:"flavor"`
	MysqlVersion string `json:"mysql_version,omitempty"`
	// Start and End bound the copy; it is consistent with Position at a
	// moment just before End.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Data is how the archive (<id>.data: mariadb-backup's xbstream) is
	// sealed.
	Data Encoding `json:"data"`
}

// DataName is the object holding the backup's archive.
func (m Manifest) DataName() string {
	return backupPrefix(m.Keyspace, m.Shard) + m.ID + ".data"
}

func (m Manifest) manifestName() string {
	return backupPrefix(m.Keyspace, m.Shard) + m.ID + ".json"
}

func backupPrefix(keyspace, shard string) string {
	return keyspace + "/" + shard + "/backups/"
}

// checkShard refuses names that would not make one path element.
func checkShard(keyspace, shard string) error {
	if keyspace == "" || shard == "" || strings.ContainsAny(keyspace+shard, "/\\") || keyspace == "." || keyspace == ".." {
		return fmt.Errorf("backupstore: bad keyspace/shard %q/%q", keyspace, shard)
	}
	return nil
}

// NewBackupID names a backup begun at start on tablet: IDs sort by time.
func NewBackupID(start time.Time, tablet string) string {
	return start.UTC().Format("20060102T150405.000Z") + "-" + tablet
}

// PutManifest publishes a backup: its archive must be stored already.
func PutManifest(ctx context.Context, s Store, m Manifest) error {
	if err := checkShard(m.Keyspace, m.Shard); err != nil {
		return err
	}
	return putJSON(ctx, s, m.manifestName(), m)
}

func putJSON(ctx context.Context, s Store, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = s.Put(ctx, name, bytes.NewReader(append(data, '\n')))
	return err
}

func getJSON(ctx context.Context, s Store, name string, v any) error {
	rc, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// ListBackups returns a shard's complete backups (those with a manifest
// and an archive), oldest first.
func ListBackups(ctx context.Context, s Store, keyspace, shard string) ([]Manifest, error) {
	if err := checkShard(keyspace, shard); err != nil {
		return nil, err
	}
	objs, err := s.List(ctx, backupPrefix(keyspace, shard))
	if err != nil {
		return nil, err
	}
	data := map[string]bool{}
	for _, o := range objs {
		if strings.HasSuffix(o.Name, ".data") {
			data[o.Name] = true
		}
	}
	var out []Manifest
	for _, o := range objs {
		if !strings.HasSuffix(o.Name, ".json") {
			continue
		}
		var m Manifest
		if err := getJSON(ctx, s, o.Name, &m); err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // deleted meanwhile
			}
			return nil, err
		}
		if m.Keyspace != keyspace || m.Shard != shard || m.manifestName() != o.Name || !data[m.DataName()] {
			continue // foreign, or its archive is gone
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].End.Before(out[j].End) })
	return out, nil
}

// ListShards returns the shards of keyspace that have anything stored
// (backups or binlogs), sorted.
func ListShards(ctx context.Context, s Store, keyspace string) ([]string, error) {
	if err := checkShard(keyspace, "x"); err != nil {
		return nil, err
	}
	objs, err := s.List(ctx, keyspace+"/")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Name, keyspace+"/")
		shard, _, ok := strings.Cut(rest, "/")
		if ok && !seen[shard] {
			seen[shard] = true
			out = append(out, shard)
		}
	}
	sort.Strings(out)
	return out, nil
}

// LatestBackup returns a shard's newest backup, or ErrNoBackup.
func LatestBackup(ctx context.Context, s Store, keyspace, shard string) (Manifest, error) {
	all, err := ListBackups(ctx, s, keyspace, shard)
	if err != nil {
		return Manifest{}, err
	}
	if len(all) == 0 {
		return Manifest{}, fmt.Errorf("%w of %s/%s in %s", ErrNoBackup, keyspace, shard, s)
	}
	return all[len(all)-1], nil
}

// FindBackup returns the backup of a shard with the given ID.
func FindBackup(ctx context.Context, s Store, keyspace, shard, id string) (Manifest, error) {
	if err := checkShard(keyspace, shard); err != nil {
		return Manifest{}, err
	}
	var m Manifest
	if err := getJSON(ctx, s, backupPrefix(keyspace, shard)+path.Base(id)+".json", &m); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Manifest{}, fmt.Errorf("%w %s of %s/%s in %s", ErrNoBackup, id, keyspace, shard, s)
		}
		return Manifest{}, err
	}
	return m, nil
}

// DeleteBackup removes a backup: its manifest first, so that it is never
// listed without its archive.
func DeleteBackup(ctx context.Context, s Store, m Manifest) error {
	if err := s.Delete(ctx, m.manifestName()); err != nil {
		return err
	}
	return s.Delete(ctx, m.DataName())
}

// Retention says which backups to keep. A backup is kept when it is one
// of the newest Keep, or younger than MaxAge, or the newest one older than
// MaxAge (so that every moment of the last MaxAge can be restored); the
// newest backup is always kept. Zero values turn a rule off; both zero
// keeps everything.
type Retention struct {
	Keep   int
	MaxAge time.Duration
}

// Expired returns the backups (oldest first, as ListBackups gives them)
// that the retention lets go at now.
func (r Retention) Expired(all []Manifest, now time.Time) []Manifest {
	if (r.Keep <= 0 && r.MaxAge <= 0) || len(all) == 0 {
		return nil
	}
	keep := make([]bool, len(all))
	keep[len(all)-1] = true
	for i := range all {
		if r.Keep > 0 && i >= len(all)-r.Keep {
			keep[i] = true
		}
	}
	if r.MaxAge > 0 {
		cut := now.Add(-r.MaxAge)
		for i := len(all) - 1; i >= 0; i-- {
			keep[i] = true
			if !all[i].End.After(cut) {
				break // the newest one at or before the cut is the last kept
			}
		}
	}
	var out []Manifest
	for i, m := range all {
		if !keep[i] {
			out = append(out, m)
		}
	}
	return out
}

// Pruned lists what Prune deleted (or would delete).
type Pruned struct {
	Backups  []Manifest
	Segments []Segment
}

// Prune applies a retention to a shard: it deletes the backups r lets go,
// then the archived binlog segments that end before the oldest kept
// backup's position (no kept backup can replay them). With dryRun it only
// says what it would delete.
func Prune(ctx context.Context, s Store, keyspace, shard string, r Retention, now time.Time, dryRun bool) (Pruned, error) {
	var out Pruned
	all, err := ListBackups(ctx, s, keyspace, shard)
	if err != nil {
		return out, err
	}
	out.Backups = r.Expired(all, now)
	if len(all) > len(out.Backups) {
		oldest := all[len(out.Backups)]
		seq, err := SeqOf(oldest.Position)
		if err != nil {
			return out, err
		}
		segs, err := ListSegments(ctx, s, keyspace, shard)
		if err != nil {
			return out, err
		}
		for _, g := range segs {
			if g.Last <= seq {
				out.Segments = append(out.Segments, g)
			}
		}
	}
	if dryRun {
		return out, nil
	}
	for _, m := range out.Backups {
		if err := DeleteBackup(ctx, s, m); err != nil {
			return out, err
		}
	}
	for _, g := range out.Segments {
		if err := DeleteSegment(ctx, s, g); err != nil {
			return out, err
		}
	}
	return out, nil
}
