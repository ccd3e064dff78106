// Package storetest is the conformance suite every backupstore.Store
// implementation passes: the folder store and the S3 store (against a real
// S3-compatible server, s3test) run the same tests.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/tablet/backupstore"
)

// Run runs the suite against s, which must be empty. partSize is the
// store's multipart part size (0 when it has none): an object of several
// parts is written.
func Run(t *testing.T, s backupstore.Store, partSize int) {
	ctx := t.Context()
	t.Run("PutGetListDelete", func(t *testing.T) {
		if _, err := s.Get(ctx, "a/b/missing"); !errors.Is(err, backupstore.ErrNotFound) {
			t.Fatalf("Get of a missing object: %v, want ErrNotFound", err)
		}
		for _, name := range []string{"ks/-80/x.data", "ks/-80/x.json", "ks/80-/y.data", "other/0/z"} {
			if n, err := s.Put(ctx, name, strings.NewReader("content of "+name)); err != nil || n != int64(len("content of "+name)) {
				t.Fatalf("Put %s = %d, %v", name, n, err)
			}
		}
		got := names(t, s, "ks/")
		if want := "ks/-80/x.data ks/-80/x.json ks/80-/y.data"; got != want {
			t.Fatalf("List ks/ = %s, want %s", got, want)
		}
		if got := names(t, s, "ks/-80/x."); got != "ks/-80/x.data ks/-80/x.json" {
			t.Fatalf("List ks/-80/x. = %s", got)
		}
		if got := names(t, s, "nothing/"); got != "" {
			t.Fatalf("List nothing/ = %q", got)
		}
		if got := read(t, s, "ks/80-/y.data"); got != "content of ks/80-/y.data" {
			t.Fatalf("Get = %q", got)
		}
		// Put replaces.
		if _, err := s.Put(ctx, "ks/80-/y.data", strings.NewReader("new")); err != nil {
			t.Fatal(err)
		}
		if got := read(t, s, "ks/80-/y.data"); got != "new" {
			t.Fatalf("Get after replace = %q", got)
		}
		for _, name := range []string{"ks/-80/x.data", "ks/-80/x.json", "ks/80-/y.data", "other/0/z", "never/was"} {
			if err := s.Delete(ctx, name); err != nil {
				t.Fatalf("Delete %s: %v", name, err)
			}
		}
		if got := names(t, s, ""); got != "" {
			t.Fatalf("List after deleting everything = %q", got)
		}
	})
	t.Run("BadNames", func(t *testing.T) {
		for _, name := range []string{"", "/abs", "a/../b", "a//b", "dir/", ".put-x", "a/./b"} {
			if _, err := s.Put(ctx, name, strings.NewReader("x")); err == nil {
				t.Errorf("Put %q was accepted", name)
			}
		}
	})
	t.Run("FailedPutLeavesNothing", func(t *testing.T) {
		boom := errors.New("source failed")
		r := io.MultiReader(strings.NewReader(strings.Repeat("x", 1000)), errReader{boom})
		if _, err := s.Put(ctx, "f/failed", r); !errors.Is(err, boom) {
			t.Fatalf("Put from a failing reader: %v, want %v", err, boom)
		}
		if got := names(t, s, "f/"); got != "" {
			t.Fatalf("a failed Put left %q", got)
		}
		// Cancelled in the middle.
		cctx, cancel := context.WithCancel(ctx)
		pr, pw := io.Pipe()
		go func() {
			pw.Write(make([]byte, 1000))
			cancel()
			pw.CloseWithError(context.Canceled)
		}()
		if _, err := s.Put(cctx, "f/cancelled", pr); err == nil {
			t.Fatal("a cancelled Put succeeded")
		}
		if got := names(t, s, "f/"); got != "" {
			t.Fatalf("a cancelled Put left %q", got)
		}
	})
	t.Run("LargeStreamingObject", func(t *testing.T) {
		// Several parts, of a length no part size divides, from a reader
		// that yields small pieces: the store must not need the length.
		size := 3*max(partSize, 1<<20) + 12345
		data := make([]byte, size)
		rand.Read(data)
		n, err := s.Put(ctx, "big/object", io.MultiReader(smallReads{bytes.NewReader(data)}))
		if err != nil || n != int64(size) {
			t.Fatalf("Put = %d, %v", n, err)
		}
		objs, err := s.List(ctx, "big/")
		if err != nil || len(objs) != 1 || objs[0].Size != int64(size) {
			t.Fatalf("List = %+v, %v", objs, err)
		}
		rc, err := s.Get(ctx, "big/object")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes (%v), equal %v", len(got), err, bytes.Equal(got, data))
		}
		if err := s.Delete(ctx, "big/object"); err != nil {
			t.Fatal(err)
		}
	})
}

func names(t *testing.T, s backupstore.Store, prefix string) string {
	t.Helper()
	objs, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List %q: %v", prefix, err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.Name)
	}
	return strings.Join(out, " ")
}

func read(t *testing.T, s backupstore.Store, name string) string {
	t.Helper()
	rc, err := s.Get(t.Context(), name)
	if err != nil {
		t.Fatalf("Get %s: %v", name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(data)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// smallReads yields at most 7000 bytes per Read.
type smallReads struct{ r io.Reader }

func (s smallReads) Read(p []byte) (int, error) {
	if len(p) > 7000 {
		p = p[:7000]
	}
	return s.r.Read(p)
}
