package backupstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testStore(t *testing.T) *fileStore {
	s, err := openFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s Store, c Codec, name string, data []byte) Encoding {
	t.Helper()
	w, err := c.Create(t.Context(), s, name)
	if err != nil {
		t.Fatal(err)
	}
	// Odd-sized writes cross chunk boundaries.
	for p := data; len(p) > 0; {
		n := min(len(p), 10007)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	enc, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func get(ctx context.Context, s Store, name string, enc Encoding, key *Key) ([]byte, error) {
	rc, err := OpenSealed(ctx, s, name, enc, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestCodecRoundTrips(t *testing.T) {
	key, _ := NewKey(bytes.Repeat([]byte{7}, 32))
	s := testStore(t)
	compressible := bytes.Repeat([]byte("mosaic row 12345 "), 40000)
	random := make([]byte, 3*chunkSize) // exactly three chunks: the last is full
	rand.Read(random)
	for _, c := range []struct {
		name  string
		codec Codec
	}{{"plain", Codec{}}, {"zstd", Codec{Compress: true}}, {"encrypted", Codec{Key: key}}, {"zstd+encrypted", Codec{Compress: true, Key: key}}} {
		for _, d := range []struct {
			name string
			data []byte
		}{{"empty", nil}, {"compressible", compressible}, {"random", random}, {"one byte", []byte{1}}} {
			t.Run(c.name+"/"+d.name, func(t *testing.T) {
				enc := put(t, s, c.codec, "o/"+c.name+"-"+strings.ReplaceAll(d.name, " ", "_"), d.data)
				if enc.RawBytes != int64(len(d.data)) || enc.SHA256 == "" {
					t.Fatalf("encoding %+v", enc)
				}
				if c.codec.Compress && d.name == "compressible" && enc.StoredBytes > int64(len(d.data))/10 {
					t.Errorf("zstd stored %d of %d bytes", enc.StoredBytes, len(d.data))
				}
				if c.codec.Key != nil && d.name == "compressible" {
					raw, _ := os.ReadFile(filepath.Join(s.dir, "o", c.name+"-compressible"))
					if bytes.Contains(raw, []byte("mosaic row")) {
						t.Error("the encrypted object holds plaintext")
					}
				}
				got, err := get(t.Context(), s, "o/"+c.name+"-"+strings.ReplaceAll(d.name, " ", "_"), enc, key)
				if err != nil || !bytes.Equal(got, d.data) {
					t.Fatalf("read back %d bytes, %v", len(got), err)
				}
			})
		}
	}
}

func TestCodecDetectsDamage(t *testing.T) {
	key, _ := NewKey(bytes.Repeat([]byte{7}, 32))
	other, _ := NewKey(bytes.Repeat([]byte{8}, 32))
	s := testStore(t)
	data := make([]byte, 200000)
	rand.Read(data)
	for _, codec := range []Codec{{}, {Compress: true}, {Key: key}, {Compress: true, Key: key}} {
		enc := put(t, s, codec, "d/obj", data)
		path := filepath.Join(s.dir, "d", "obj")
		good, _ := os.ReadFile(path)
		// One flipped bit in the middle.
		bad := bytes.Clone(good)
		bad[len(bad)/2] ^= 0x10
		os.WriteFile(path, bad, 0o600)
		if _, err := get(t.Context(), s, "d/obj", enc, key); err == nil {
			t.Errorf("%+v: a flipped bit went unnoticed", codec)
		} else if codec.Key == nil && !errors.Is(err, ErrChecksum) {
			t.Errorf("%+v: flipped bit: %v, want ErrChecksum", codec, err)
		}
		// Cut short.
		os.WriteFile(path, good[:len(good)-100], 0o600)
		if _, err := get(t.Context(), s, "d/obj", enc, key); err == nil {
			t.Errorf("%+v: a truncated object went unnoticed", codec)
		}
		os.WriteFile(path, good, 0o600)
		if codec.Key != nil {
			if _, err := get(t.Context(), s, "d/obj", enc, other); err == nil || !strings.Contains(err.Error(), "encrypted with key") {
				t.Errorf("wrong key: %v", err)
			}
			if _, err := get(t.Context(), s, "d/obj", enc, nil); err == nil {
				t.Error("an encrypted object opened without a key")
			}
		}
		if got, err := get(t.Context(), s, "d/obj", enc, key); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%+v: the restored object does not read: %v", codec, err)
		}
	}
}

func TestSealAbortLeavesNothing(t *testing.T) {
	s := testStore(t)
	w, err := Codec{Compress: true}.Create(t.Context(), s, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]byte, 100000))
	w.Abort(errors.New("mariadb-backup failed"))
	if objs, _ := s.List(t.Context(), ""); len(objs) != 0 {
		t.Fatalf("an aborted object left %+v", objs)
	}
}

func TestReadKeyFile(t *testing.T) {
	dir := t.TempDir()
	raw := bytes.Repeat([]byte{0xab}, 32)
	files := map[string][]byte{
		"raw": raw,
		"hex": []byte(strings.Repeat("ab", 32) + "\n"),
		"b64": []byte("q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"),
	}
	want, _ := NewKey(raw)
	for name, data := range files {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o600)
		k, err := ReadKeyFile(p)
		if err != nil || k.ID() != want.ID() {
			t.Errorf("%s: %v, %v", name, k, err)
		}
	}
	p := filepath.Join(dir, "short")
	os.WriteFile(p, []byte("abcd\n"), 0o600)
	if _, err := ReadKeyFile(p); err == nil {
		t.Error("a short key was accepted")
	}
}
