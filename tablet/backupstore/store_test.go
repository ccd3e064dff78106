package backupstore_test

import (
	"testing"

	"github.com/mosaicdb/mosaic/tablet/backupstore"
	"github.com/mosaicdb/mosaic/tablet/backupstore/s3test"
	"github.com/mosaicdb/mosaic/tablet/backupstore/storetest"
)

func TestFileStore(t *testing.T) {
	s, err := backupstore.OpenStore(t.Context(), "file://"+t.TempDir(), backupstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, s, 0)
}

func TestOpenStoreURLs(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	for _, u := range []string{dir, "file://" + dir} {
		s, err := backupstore.OpenStore(ctx, u, backupstore.Options{})
		if err != nil || s.String() != "file://"+dir {
			t.Errorf("OpenStore(%q) = %v, %v", u, s, err)
		}
	}
	for _, u := range []string{"", "relative/dir", "file://host/dir", "ftp://x/y", "s3:///prefix", "s3://b?secure=maybe"} {
		if _, err := backupstore.OpenStore(ctx, u, backupstore.Options{}); err == nil {
			t.Errorf("OpenStore(%q) succeeded", u)
		}
	}
}

// TestS3Store runs the conformance suite against a real S3 server (weed),
// with 5 MiB parts so that the large object is a multipart upload.
func TestS3Store(t *testing.T) {
	if testing.Short() {
		t.Skip("starts weed, an S3 server")
	}
	srv := s3test.Start(t)
	const part = 5 << 20
	s, err := backupstore.OpenStore(t.Context(), srv.URL("suite"), backupstore.Options{PartSize: part})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, s, part)
}
