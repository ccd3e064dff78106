package backupstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Store keeps objects in an S3-compatible bucket, below an optional
// prefix. Puts of unknown length are multipart uploads of PartSize parts,
// so memory holds one part at a time; S3 makes an object visible only when
// its upload completes.
type s3Store struct {
	client   *minio.Client
	bucket   string
	prefix   string // "" or ending in "/"
	partSize int64
	desc     string
}

func openS3(ctx context.Context, u *url.URL, opts Options) (*s3Store, error) {
	bucket := u.Host
	if bucket == "" {
		return nil, errors.New("backupstore: s3 URL has no bucket (s3://bucket/prefix)")
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	q := u.Query()
	endpoint := q.Get("endpoint")
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	secure := true
	if v := q.Get("secure"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("backupstore: s3 URL: secure=%q", v)
		}
		secure = b
	}
	lookup := minio.BucketLookupAuto
	if v := q.Get("path_style"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("backupstore: s3 URL: path_style=%q", v)
		}
		if b {
			lookup = minio.BucketLookupPath
		} else {
			lookup = minio.BucketLookupDNS
		}
	}
	creds, err := s3Credentials(q.Get("credentials"), q.Get("profile"), opts.Env)
	if err != nil {
		return nil, err
	}
	client, err := minio.New(endpoint, &minio.Options{Creds: creds, Secure: secure, Region: q.Get("region"), BucketLookup: lookup})
	if err != nil {
		return nil, fmt.Errorf("backupstore: s3 client: %w", err)
	}
	part := opts.PartSize
	if part == 0 {
		part = DefaultPartSize
	}
	if part < 5<<20 {
		return nil, fmt.Errorf("backupstore: s3 part size %d is below S3's 5 MiB minimum", part)
	}
	scheme := "https"
	if !secure {
		scheme = "http"
	}
	s := &s3Store{client: client, bucket: bucket, prefix: prefix, partSize: part,
		desc: fmt.Sprintf("s3://%s/%s (%s://%s)", bucket, prefix, scheme, endpoint)}
	ok, err := client.BucketExists(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("backupstore: %s: %w", s, err)
	}
	if !ok {
		return nil, fmt.Errorf("backupstore: %s: the bucket does not exist", s)
	}
	return s, nil
}

// s3Credentials are a credentials file's when given, else the
// environment's, else ~/.aws/credentials.
func s3Credentials(file, profile string, env func(string) string) (*credentials.Credentials, error) {
	if env == nil {
		env = os.Getenv
	}
	if file != "" {
		id, secret, token, err := readCredentialsFile(file, profile)
		if err != nil {
			return nil, err
		}
		return credentials.NewStaticV4(id, secret, token), nil
	}
	for _, names := range [][3]string{
		{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"},
		{"MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", ""},
	} {
		id, secret := env(names[0]), env(names[1])
		if id != "" && secret != "" {
			token := ""
			if names[2] != "" {
				token = env(names[2])
			}
			return credentials.NewStaticV4(id, secret, token), nil
		}
	}
	return credentials.NewFileAWSCredentials("", profile), nil
}

// readCredentialsFile reads key = value lines: an AWS shared credentials
// file (aws_access_key_id, aws_secret_access_key, aws_session_token under
// [profile] sections) or the same keys without the aws_ prefix and no
// sections.
func readCredentialsFile(file, profile string) (id, secret, token string, err error) {
	if profile == "" {
		profile = "default"
	}
	f, err := os.Open(file)
	if err != nil {
		return "", "", "", fmt.Errorf("backupstore: credentials: %w", err)
	}
	defer f.Close()
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(strings.TrimPrefix(line[1:len(line)-1], "profile "))
			continue
		}
		if section != "" && section != profile {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(k)), "aws_")
		v = strings.TrimSpace(v)
		switch k {
		case "access_key_id":
			id = v
		case "secret_access_key":
			secret = v
		case "session_token":
			token = v
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", "", fmt.Errorf("backupstore: credentials %s: %w", file, err)
	}
	if id == "" || secret == "" {
		return "", "", "", fmt.Errorf("backupstore: credentials %s has no access_key_id and secret_access_key for profile %s", file, profile)
	}
	return id, secret, token, nil
}

func (s *s3Store) String() string { return s.desc }

func (s *s3Store) key(name string) string { return s.prefix + name }

func (s *s3Store) Put(ctx context.Context, name string, r io.Reader) (int64, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	cr := &countingReader{r: r}
	_, err := s.client.PutObject(ctx, s.bucket, s.key(name), cr, -1, minio.PutObjectOptions{
		PartSize:    uint64(s.partSize),
		ContentType: "application/octet-stream",
	})
	if err != nil {
		return cr.n, fmt.Errorf("upload %s to %s: %w", name, s, err)
	}
	return cr.n, nil
}

func (s *s3Store) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(name), minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("get %s from %s: %w", name, s, err)
	}
	// GetObject is lazy: ask for the object's info to learn now whether it
	// exists.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			return nil, fmt.Errorf("%w: %s in %s", ErrNotFound, name, s)
		}
		return nil, fmt.Errorf("get %s from %s: %w", name, s, err)
	}
	return obj, nil
}

func (s *s3Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.key(prefix), Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("list %s in %s: %w", prefix, s, o.Err)
		}
		name := strings.TrimPrefix(o.Key, s.prefix)
		// Folder markers (keys ending in /, which some servers list) are
		// not objects of a store.
		if strings.HasSuffix(name, "/") || strings.HasPrefix(path.Base(name), ".put-") {
			continue
		}
		out = append(out, ObjectInfo{Name: name, Size: o.Size, Modified: o.LastModified})
	}
	// S3 lists in key order already.
	return out, nil
}

func (s *s3Store) Delete(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.key(name), minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		return fmt.Errorf("delete %s from %s: %w", name, s, err)
	}
	return nil
}
