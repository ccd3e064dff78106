package backupstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/klauspost/compress/zstd"
)

// CompressionZstd names zstd compression in a manifest.
const CompressionZstd = "zstd"

// Codec says how objects are sealed when written.
type Codec struct {
	// Compress compresses with zstd (fast level).
	Compress bool
	// Key, when set, encrypts at rest.
	Key *Key
}

// Encoding is how one object was sealed, recorded in its manifest: what a
// reader needs to open and verify it.
type Encoding struct {
	Compression string `json:"compression,omitempty"`
	Encryption  string `json:"encryption,omitempty"`
	KeyID       string `json:"key_id,omitempty"`
	// SHA256 is the checksum of the stored bytes, and StoredBytes their
	// count; RawBytes counts the data before sealing.
	SHA256      string `json:"sha256"`
	StoredBytes int64  `json:"stored_bytes"`
	RawBytes    int64  `json:"raw_bytes"`
}

// ErrChecksum is returned when an object's stored bytes do not match its
// manifest.
var ErrChecksum = errors.New("backupstore: checksum mismatch")

// SealWriter streams one object into a store through the codec. Write the
// data, then Close to finish the upload (and learn the Encoding), or Abort
// to drop it.
type SealWriter struct {
	pw     *io.PipeWriter
	chain  []io.WriteCloser // innermost last: closed in order
	first  io.Writer
	raw    int64
	enc    Encoding
	hash   hash.Hash
	done   chan struct{}
	stored int64
	putErr error
}

// Create starts writing the object name to s. The upload runs while the
// caller writes (a goroutine the SealWriter owns; Close or Abort waits
// for it).
func (c Codec) Create(ctx context.Context, s Store, name string) (*SealWriter, error) {
	pr, pw := io.Pipe()
	w := &SealWriter{pw: pw, hash: sha256.New(), done: make(chan struct{})}
	// The upload runs first: the encryption header is written at once.
	go func() {
		defer close(w.done)
		n, err := s.Put(ctx, name, pr)
		w.stored, w.putErr = n, err
		// Unblock a writer whose upload failed.
		pr.CloseWithError(errUploadEnded{err})
	}()
	// Stored bytes go through the checksum on their way to the pipe.
	var out io.Writer = io.MultiWriter(pw, w.hash)
	if c.Key != nil {
		ew, err := newEncryptWriter(out, c.Key)
		if err != nil {
			w.Abort(err)
			return nil, err
		}
		w.enc.Encryption, w.enc.KeyID = EncryptionAESGCM, c.Key.ID()
		w.chain = append([]io.WriteCloser{ew}, w.chain...)
		out = ew
	}
	if c.Compress {
		zw, err := zstd.NewWriter(out, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			w.Abort(err)
			return nil, err
		}
		w.enc.Compression = CompressionZstd
		w.chain = append([]io.WriteCloser{zw}, w.chain...)
		out = zw
	}
	w.first = out
	return w, nil
}

type errUploadEnded struct{ err error }

func (e errUploadEnded) Error() string {
	if e.err == nil {
		return "backupstore: the upload ended early"
	}
	return "backupstore: upload failed: " + e.err.Error()
}

func (e errUploadEnded) Unwrap() error { return e.err }

// Write seals p into the object.
func (w *SealWriter) Write(p []byte) (int, error) {
	n, err := w.first.Write(p)
	w.raw += int64(n)
	return n, err
}

// RawBytes is how much was written so far.
func (w *SealWriter) RawBytes() int64 { return w.raw }

// Close finishes the object and waits for its upload; the object exists
// once it returns nil.
func (w *SealWriter) Close() (Encoding, error) {
	for _, c := range w.chain {
		if err := c.Close(); err != nil {
			w.pw.CloseWithError(err)
			<-w.done
			return Encoding{}, err
		}
	}
	w.pw.Close()
	<-w.done
	if w.putErr != nil {
		return Encoding{}, w.putErr
	}
	w.enc.SHA256 = hex.EncodeToString(w.hash.Sum(nil))
	w.enc.StoredBytes, w.enc.RawBytes = w.stored, w.raw
	return w.enc, nil
}

// Abort drops the object: the upload fails and leaves nothing.
func (w *SealWriter) Abort(cause error) {
	if cause == nil {
		cause = errors.New("backupstore: upload aborted")
	}
	w.pw.CloseWithError(cause)
	<-w.done
}

// OpenSealed reads the object name sealed as enc: it decrypts with key (needed
// when enc says encrypted), decompresses, and fails with ErrChecksum
// instead of reporting the end when the stored bytes differ from the
// manifest's. The caller closes it.
func OpenSealed(ctx context.Context, s Store, name string, enc Encoding, key *Key) (io.ReadCloser, error) {
	if enc.Encryption != "" {
		if enc.Encryption != EncryptionAESGCM {
			return nil, fmt.Errorf("backupstore: %s is encrypted as %q, which this version cannot read", name, enc.Encryption)
		}
		if key == nil {
			return nil, fmt.Errorf("backupstore: %s is encrypted (key %s): give its key file", name, enc.KeyID)
		}
		if key.ID() != enc.KeyID {
			return nil, fmt.Errorf("backupstore: %s is encrypted with key %s, not with the key given (%s)", name, enc.KeyID, key.ID())
		}
	}
	if enc.Compression != "" && enc.Compression != CompressionZstd {
		return nil, fmt.Errorf("backupstore: %s is compressed as %q, which this version cannot read", name, enc.Compression)
	}
	rc, err := s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	v := &verifyReader{r: rc, hash: sha256.New(), want: enc, name: name}
	var r io.Reader = v
	if enc.Encryption != "" {
		dr, err := newDecryptReader(r, key)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		r = dr
	}
	var zr *zstd.Decoder
	if enc.Compression == CompressionZstd {
		zr, err = zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			rc.Close()
			return nil, err
		}
		r = zr
	}
	return &openReader{Reader: r, v: v, body: rc, zr: zr}, nil
}

type openReader struct {
	io.Reader
	v    *verifyReader
	body io.Closer
	zr   *zstd.Decoder
}

func (o *openReader) Read(p []byte) (int, error) {
	n, err := o.Reader.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		// The decoders may stop before the stored stream's end: read it
		// out so that the checksum covers every byte.
		if verr := o.v.drain(); verr != nil {
			return n, verr
		}
	case err != nil:
		// A decoder failing on damaged bytes: say so plainly when the
		// checksum shows it.
		if verr := o.v.drain(); errors.Is(verr, ErrChecksum) {
			return n, verr
		}
	}
	return n, err
}

func (o *openReader) Close() error {
	if o.zr != nil {
		o.zr.Close()
	}
	return o.body.Close()
}

// verifyReader checks the stored bytes against the manifest at their end.
type verifyReader struct {
	r    io.Reader
	hash hash.Hash
	n    int64
	want Encoding
	name string
	err  error
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.hash.Write(p[:n])
	v.n += int64(n)
	if errors.Is(err, io.EOF) {
		if cerr := v.check(); cerr != nil {
			v.err = cerr
			return n, cerr
		}
	}
	return n, err
}

func (v *verifyReader) check() error {
	if v.n != v.want.StoredBytes {
		return fmt.Errorf("%w: %s has %d bytes, its manifest says %d", ErrChecksum, v.name, v.n, v.want.StoredBytes)
	}
	if got := hex.EncodeToString(v.hash.Sum(nil)); got != v.want.SHA256 {
		return fmt.Errorf("%w: %s has sha256 %s, its manifest says %s", ErrChecksum, v.name, got, v.want.SHA256)
	}
	return nil
}

func (v *verifyReader) drain() error {
	_, err := io.Copy(io.Discard, v)
	return err
}
