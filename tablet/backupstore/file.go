package backupstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// fileStore keeps objects as files below a folder: object a/b/c is the
// file <dir>/a/b/c. A Put writes a hidden temporary file beside its target
// and renames it into place once synced.
type fileStore struct {
	dir string
}

func openFile(dir string) (*fileStore, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("backupstore: folder %q is not absolute", dir)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("backupstore: %w", err)
	}
	return &fileStore{dir: filepath.Clean(dir)}, nil
}

func (s *fileStore) String() string { return "file://" + s.dir }

func (s *fileStore) path(name string) string {
	return filepath.Join(s.dir, filepath.FromSlash(name))
}

func (s *fileStore) Put(ctx context.Context, name string, r io.Reader) (int64, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	final := s.path(name)
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(filepath.Dir(final), ".put-*")
	if err != nil {
		return 0, err
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err != nil {
		return n, fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	if err := f.Close(); err != nil {
		return n, err
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return n, err
	}
	done = true
	// The rename is durable once the folder is synced.
	if d, err := os.Open(filepath.Dir(final)); err == nil {
		d.Sync()
		d.Close()
	}
	return n, nil
}

func (s *fileStore) Get(_ context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s in %s", ErrNotFound, name, s)
	}
	return f, err
}

func (s *fileStore) List(_ context.Context, prefix string) ([]ObjectInfo, error) {
	// Walk from the deepest folder the prefix names completely.
	root := s.dir
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		root = s.path(prefix[:i])
	}
	var out []ObjectInfo
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".put-") {
			return nil
		}
		rel, err := filepath.Rel(s.dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if !strings.HasPrefix(name, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // deleted meanwhile
			}
			return err
		}
		out = append(out, ObjectInfo{Name: name, Size: info.Size(), Modified: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", prefix, s, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *fileStore) Delete(_ context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := os.Remove(s.path(name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
