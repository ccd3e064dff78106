package backupstore

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestWriteListLatest(t *testing.T) {
	dir := t.TempDir()
	if _, err := Latest(dir, "ks", "-80"); !errors.Is(err, ErrNoBackup) {
		t.Fatalf("Latest of nothing: %v", err)
	}
	w, err := Create(dir, "ks", "-80", "zone1-101")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("archive one"))
	m1, err := w.Commit("0-101-5", "mariadb")
	if err != nil {
		t.Fatal(err)
	}
	// An aborted backup leaves nothing visible.
	w, err = Create(dir, "ks", "-80", "zone1-102")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("half"))
	w.Abort()
	time.Sleep(2 * time.Millisecond)
	w, err = Create(dir, "ks", "-80", "zone1-102")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("archive two"))
	m2, err := w.Commit("0-101-9", "mariadb")
	if err != nil {
		t.Fatal(err)
	}
	all, err := List(dir, "ks", "-80")
	if err != nil || len(all) != 2 || all[0].Position != m1.Position || all[1].Archive != m2.Archive {
		t.Fatalf("List = %+v, %v", all, err)
	}
	latest, err := Latest(dir, "ks", "-80")
	if err != nil || latest.Position != "0-101-9" || latest.Tablet != "zone1-102" || latest.Bytes != int64(len("archive two")) {
		t.Fatalf("Latest = %+v, %v", latest, err)
	}
	data, err := os.ReadFile(latest.Archive)
	if err != nil || string(data) != "archive two" {
		t.Fatalf("archive = %q, %v", data, err)
	}
	if m, err := Read(latest.Archive); err != nil || m.Position != latest.Position {
		t.Fatalf("Read = %+v, %v", m, err)
	}
	if _, err := Create(dir, "k/s", "0", "x"); err == nil {
		t.Error("a keyspace with a slash was accepted")
	}
}
