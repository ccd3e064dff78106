package backupstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// ErrNotFound is returned by Get for an object that does not exist.
var ErrNotFound = errors.New("backupstore: no such object")

// Store is a flat namespace of objects named by slash-separated paths.
// Implementations are safe for concurrent use.
type Store interface {
	// Put stores what r yields under name, replacing any object of that
	// name, and returns how many bytes it stored. It streams: r need not
	// fit in memory or on disk. The object becomes visible only once Put
	// succeeded; a failed or cancelled Put leaves no object (and no
	// partial one under name). It blocks until r ends, fails, or ctx ends.
	Put(ctx context.Context, name string, r io.Reader) (int64, error)
	// Get opens an object for reading; ErrNotFound when there is none.
	// The caller closes it.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// List returns the objects whose names start with prefix, sorted by
	// name. Partial objects of Puts in progress are not listed.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes an object; deleting one that does not exist is not
	// an error.
	Delete(ctx context.Context, name string) error
	// String describes the store (its URL without credentials).
	String() string
}

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Name     string
	Size     int64
	Modified time.Time
}

// Options configures Open beyond what the URL says.
type Options struct {
	// PartSize is the size of one part of a multipart upload (S3): a
	// Put buffers one part in memory, and an object has at most 10,000
	// parts. 0 means DefaultPartSize.
	PartSize int64
	// Env looks up environment variables (credentials); nil means none.
	Env func(string) string
}

// DefaultPartSize is 16 MiB parts: objects up to about 160 GB.
const DefaultPartSize = 16 << 20

// OpenStore returns the store a URL names:
//
//	file:///abs/dir           a folder (created when missing)
//	/abs/dir                  the same
//	s3://bucket[/prefix]      an S3-compatible bucket; query parameters:
//	    endpoint=host[:port]  the server (default s3.amazonaws.com)
//	    region=R              the bucket's region
//	    secure=false          plain HTTP (default true: HTTPS)
//	    credentials=PATH      a credentials file (AWS shared file format, or
//	                          access_key_id= / secret_access_key= lines)
//	    profile=NAME          its profile (default "default")
//	    path_style=true       path-style requests (default: as the server wants)
//
// Without credentials= the S3 store reads AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (or MINIO_ACCESS_KEY / MINIO_SECRET_KEY) from the
// environment, then ~/.aws/credentials.
func OpenStore(ctx context.Context, rawURL string, opts Options) (Store, error) {
	if rawURL == "" {
		return nil, errors.New("backupstore: no storage URL")
	}
	if strings.HasPrefix(rawURL, "/") {
		return openFile(rawURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("backupstore: bad storage URL: %w", err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("backupstore: file URL %q names a host; want file:///path", rawURL)
		}
		if u.Path == "" {
			return nil, fmt.Errorf("backupstore: file URL %q has no path", rawURL)
		}
		return openFile(u.Path)
	case "s3":
		return openS3(ctx, u, opts)
	}
	return nil, fmt.Errorf("backupstore: unknown storage scheme %q (want file:// or s3://)", u.Scheme)
}

// checkName refuses object names that could leave a store's root or that
// a store cannot represent.
func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") || strings.ContainsRune(name, 0) {
		return fmt.Errorf("backupstore: bad object name %q", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, ".put-") {
			return fmt.Errorf("backupstore: bad object name %q", name)
		}
	}
	return nil
}

// countingReader counts what is read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
