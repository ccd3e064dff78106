package backupstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ErrNoBackup is returned by Latest when a shard has no backup.
var ErrNoBackup = errors.New("no backup")

// Manifest describes one backup.
type Manifest struct {
	Keyspace string    `json:"keyspace"`
	Shard    string    `json:"shard"`
	Tablet   string    `json:"tablet"`
	Position string    `json:"position"`
	Flavor   string    `json:"flavor"`
	Bytes    int64     `json:"bytes"`
	Time     time.Time `json:"time"`
	// Archive is the path of the .xbstream file (not stored).
	Archive string `json:"-"`
}

func shardDir(dir, keyspace, shard string) string {
	return filepath.Join(dir, keyspace, shard)
}

// Writer writes one backup's archive; Commit publishes it.
type Writer struct {
	f        *os.File
	tmp      string
	final    string
	manifest Manifest
}

// Create starts a backup of keyspace/shard taken from tablet.
func Create(dir, keyspace, shard, tablet string) (*Writer, error) {
	if keyspace == "" || shard == "" || strings.ContainsAny(keyspace+shard, "/\\") {
		return nil, fmt.Errorf("bad keyspace/shard %q/%q", keyspace, shard)
	}
	sd := shardDir(dir, keyspace, shard)
	if err := os.MkdirAll(sd, 0o755); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	name := now.Format("20060102T150405.000Z") + "-" + tablet
	final := filepath.Join(sd, name+".xbstream")
	tmp := final + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &Writer{f: f, tmp: tmp, final: final, manifest: Manifest{Keyspace: keyspace, Shard: shard, Tablet: tablet, Time: now}}, nil
}

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.manifest.Bytes += int64(n)
	return n, err
}

// Commit syncs the archive, names it and writes its manifest with the
// copy's position and flavor.
func (w *Writer) Commit(position, flavor string) (Manifest, error) {
	if err := w.f.Sync(); err != nil {
		w.Abort()
		return Manifest{}, err
	}
	if err := w.f.Close(); err != nil {
		w.Abort()
		return Manifest{}, err
	}
	if err := os.Rename(w.tmp, w.final); err != nil {
		w.Abort()
		return Manifest{}, err
	}
	w.manifest.Position, w.manifest.Flavor = position, flavor
	data, err := json.MarshalIndent(w.manifest, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	mf := strings.TrimSuffix(w.final, ".xbstream") + ".json"
	if err := os.WriteFile(mf+".partial", append(data, '\n'), 0o644); err != nil {
		return Manifest{}, err
	}
	if err := os.Rename(mf+".partial", mf); err != nil {
		return Manifest{}, err
	}
	m := w.manifest
	m.Archive = w.final
	return m, nil
}

// Abort drops an unfinished backup.
func (w *Writer) Abort() {
	w.f.Close()
	os.Remove(w.tmp)
}

// List returns a shard's complete backups, oldest first.
func List(dir, keyspace, shard string) ([]Manifest, error) {
	sd := shardDir(dir, keyspace, shard)
	entries, err := os.ReadDir(sd)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Manifest
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		m, err := Read(filepath.Join(sd, name))
		if err != nil {
			continue // a half-written or foreign file
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// Latest returns a shard's newest complete backup, or ErrNoBackup.
func Latest(dir, keyspace, shard string) (Manifest, error) {
	all, err := List(dir, keyspace, shard)
	if err != nil {
		return Manifest{}, err
	}
	if len(all) == 0 {
		return Manifest{}, fmt.Errorf("%w of %s/%s in %s", ErrNoBackup, keyspace, shard, dir)
	}
	return all[len(all)-1], nil
}

// Read reads the manifest at path (a .json file, or the .xbstream beside
// it).
func Read(path string) (Manifest, error) {
	mf := strings.TrimSuffix(path, ".xbstream")
	mf = strings.TrimSuffix(mf, ".json") + ".json"
	data, err := os.ReadFile(mf)
	if err != nil {
		return Manifest{}, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, fmt.Errorf("manifest %s: %w", mf, err)
	}
	m.Archive = strings.TrimSuffix(mf, ".json") + ".xbstream"
	if _, err := os.Stat(m.Archive); err != nil {
		return Manifest{}, err
	}
	return m, nil
}
