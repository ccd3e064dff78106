// Package s3test starts a real S3-compatible server for tests: SeaweedFS's
// `weed server -s3`, on ports from testports, with one access key and one
// bucket. The weed binary is built once per machine by scripts/weed.sh
// (`make weed`; `make test` runs it) into a cache outside the repository;
// a test that needs it and finds none skips, saying so loudly.
package s3test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mosaicdb/mosaic/testports"
)

// WeedVersion is the SeaweedFS module version scripts/weed.sh builds; the
// two must match.
const WeedVersion = "v0.0.0-20261109003541-7506e5f91cd6"

// The server's one identity.
const (
	AccessKey = "mosaic-test-access"
	SecretKey = "mosaic-test-secret-key-0123456789"
)

// WeedPath is where scripts/weed.sh puts the binary.
func WeedPath() string {
	cache := os.Getenv("MOSAIC_TEST_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "mosaic-test")
	}
	return filepath.Join(cache, "weed-"+WeedVersion, "weed")
}

// Server is a running weed S3 server.
type Server struct {
	// Endpoint is host:port of its S3 API (plain HTTP).
	Endpoint string
	// Bucket exists and is empty at start.
	Bucket string
	// Dir holds its data; CredentialsFile the access key in the format
	// backupstore reads.
	Dir             string
	CredentialsFile string
}

// URL is a backupstore URL for prefix in the server's bucket, with the
// credentials file.
func (s *Server) URL(prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&secure=false&path_style=true&region=us-east-1&credentials=%s", s.Bucket, prefix, s.Endpoint, s.CredentialsFile)
}

// Start starts a weed server that lives until the test ends, or skips the
// test when the weed binary was not built.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := WeedPath()
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("SKIPPING: this test needs SeaweedFS weed as its S3 server, and %s is missing (%v): run `make weed` (make test does) to build it", bin, err)
	}
	ports, err := testports.Free(8)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := map[string]any{"identities": []any{map[string]any{
		"name":        "mosaic",
		"credentials": []any{map[string]string{"accessKey": AccessKey, "secretKey": SecretKey}},
		"actions":     []string{"Admin", "Read", "List", "Tagging", "Write"},
	}}}
	data, _ := json.Marshal(cfg)
	s3cfg := filepath.Join(dir, "s3.json")
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(s3cfg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = "+AccessKey+"\naws_secret_access_key = "+SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data2 := filepath.Join(dir, "data")
	if err := os.MkdirAll(data2, 0o750); err != nil {
		t.Fatal(err)
	}
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	args := []string{"server",
		"-dir=" + data2, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port=" + p(0), "-master.port.grpc=" + p(1), "-master.telemetry=false",
		"-master.volumeSizeLimitMB=256", "-volume.max=16",
		"-volume.port=" + p(2), "-volume.port.grpc=" + p(3), "-volume.preStopSeconds=0",
		"-filer", "-filer.port=" + p(4), "-filer.port.grpc=" + p(5), "-filer.localSocket=" + filepath.Join(dir, "filer.sock"),
		"-s3", "-s3.port=" + p(6), "-s3.port.grpc=" + p(7), "-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.localSocket=" + filepath.Join(dir, "s3.sock"), "-s3.config=" + s3cfg,
	}
	logf, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	// No credentials from the test's environment: the config file's only.
	cmd.Env = append(filterEnv(os.Environ()), "HOME="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	})
	s := &Server{Endpoint: net.JoinHostPort("127.0.0.1", p(6)), Bucket: "mosaic-backups", Dir: dir, CredentialsFile: creds}
	client, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	// The S3 API answers once master, volume and filer are up; a bucket
	// accepts writes once the master has a volume to give.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var last error
	for {
		select {
		case <-exited:
			t.Fatalf("weed exited at start: %s", tail(filepath.Join(dir, "weed.log")))
		default:
		}
		last = ready(ctx, client, s.Bucket)
		if last == nil {
			return s
		}
		if ctx.Err() != nil {
			t.Fatalf("weed S3 server at %s not ready within 2m: %v\n%s", s.Endpoint, last, tail(filepath.Join(dir, "weed.log")))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func ready(ctx context.Context, c *minio.Client, bucket string) error {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ok, err := c.BucketExists(rctx, bucket)
	if err != nil {
		return err
	}
	if !ok {
		if err := c.MakeBucket(rctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
			return err
		}
	}
	if _, err := c.PutObject(rctx, bucket, "probe", bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
		return err
	}
	return c.RemoveObject(rctx, bucket, "probe", minio.RemoveObjectOptions{})
}

func filterEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := bytes.Cut([]byte(kv), []byte("="))
		switch string(k) {
		case "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "HOME":
			continue
		}
		out = append(out, kv)
	}
	return out
}

func tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}
