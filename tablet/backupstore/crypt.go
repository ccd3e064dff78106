package backupstore

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// Encryption at rest: a stored object is a header (magic, a random salt)
// and the data in chunks of chunkSize, each sealed with AES-256-GCM under
// a key derived from the key file and the salt (HKDF-SHA256), with the
// chunk's number and a last-chunk flag as nonce. So a chunk cannot be
// altered, moved, dropped or the stream cut short without the reader
// failing, and no nonce repeats under one derived key.

// EncryptionAESGCM names the format in a manifest.
const EncryptionAESGCM = "aes-256-gcm-chunked"

const (
	cryptMagic = "MOSAICENC1"
	saltSize   = 32
	chunkSize  = 64 << 10
	tagSize    = 16
)

// Key is an encryption key read from a key file.
type Key struct {
	secret []byte
	id     string
}

// ID names the key without revealing it: a manifest records it so that a
// restore with the wrong key says so before reading anything.
func (k *Key) ID() string { return k.id }

// NewKey makes a Key from 32 bytes.
func NewKey(secret []byte) (*Key, error) {
	if len(secret) != 32 {
		return nil, fmt.Errorf("backupstore: an encryption key is 32 bytes, not %d", len(secret))
	}
	sum := sha256.Sum256(append([]byte("mosaic backup key id\x00"), secret...))
	return &Key{secret: bytes.Clone(secret), id: hex.EncodeToString(sum[:8])}, nil
}

// ReadKeyFile reads a key file: 32 raw bytes, or 64 hex digits, or the
// base64 of 32 bytes (a trailing newline is ignored). `openssl rand -hex
// 32 > key` makes one.
func ReadKeyFile(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("backupstore: key file: %w", err)
	}
	if len(data) == 32 {
		return NewKey(data)
	}
	text := bytes.TrimSpace(data)
	if b, err := hex.DecodeString(string(text)); err == nil && len(b) == 32 {
		return NewKey(b)
	}
	if b, err := base64.StdEncoding.DecodeString(string(text)); err == nil && len(b) == 32 {
		return NewKey(b)
	}
	return nil, fmt.Errorf("backupstore: key file %s holds neither 32 bytes, 64 hex digits nor base64 of 32 bytes", path)
}

func (k *Key) aead(salt []byte) (cipher.AEAD, error) {
	dk, err := hkdf.Key(sha256.New, k.secret, salt, "mosaic backup object v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(dk)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func chunkNonce(n uint64, last bool) []byte {
	nonce := make([]byte, 12)
	binary.BigEndian.PutUint64(nonce[3:11], n)
	if last {
		nonce[11] = 1
	}
	return nonce
}

// encryptWriter seals what is written to it onto w. Close writes the last
// chunk (it does not close w).
type encryptWriter struct {
	w    io.Writer
	aead cipher.AEAD
	buf  []byte
	n    uint64
	out  []byte
}

func newEncryptWriter(w io.Writer, k *Key) (*encryptWriter, error) {
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	aead, err := k.aead(salt)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(append([]byte(cryptMagic), salt...)); err != nil {
		return nil, err
	}
	return &encryptWriter{w: w, aead: aead, buf: make([]byte, 0, chunkSize), out: make([]byte, 0, chunkSize+tagSize)}, nil
}

func (e *encryptWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if len(e.buf) == chunkSize {
			// A full chunk is sealed only once more data follows, so that
			// the last chunk, full or not, carries the last flag.
			if err := e.seal(false); err != nil {
				return n, err
			}
		}
		c := copy(e.buf[len(e.buf):chunkSize], p)
		e.buf = e.buf[:len(e.buf)+c]
		p = p[c:]
		n += c
	}
	return n, nil
}

func (e *encryptWriter) seal(last bool) error {
	e.out = e.aead.Seal(e.out[:0], chunkNonce(e.n, last), e.buf, nil)
	e.n++
	e.buf = e.buf[:0]
	_, err := e.w.Write(e.out)
	return err
}

func (e *encryptWriter) Close() error { return e.seal(true) }

// decryptReader opens a stream encryptWriter sealed.
type decryptReader struct {
	r     *bufio.Reader
	aead  cipher.AEAD
	n     uint64
	in    []byte
	plain []byte
	out   []byte
	done  bool
}

func newDecryptReader(r io.Reader, k *Key) (*decryptReader, error) {
	head := make([]byte, len(cryptMagic)+saltSize)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, fmt.Errorf("backupstore: encrypted object header: %w", noEOF(err))
	}
	if string(head[:len(cryptMagic)]) != cryptMagic {
		return nil, errors.New("backupstore: the object is not encrypted in a format this version reads")
	}
	aead, err := k.aead(head[len(cryptMagic):])
	if err != nil {
		return nil, err
	}
	return &decryptReader{r: bufio.NewReaderSize(r, chunkSize+tagSize+1), aead: aead, in: make([]byte, chunkSize+tagSize)}, nil
}

func (d *decryptReader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.done {
			return 0, io.EOF
		}
		n, err := io.ReadFull(d.r, d.in)
		switch {
		case err == nil:
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			d.done = true
		default:
			return 0, err
		}
		if !d.done {
			if _, err := d.r.Peek(1); errors.Is(err, io.EOF) {
				d.done = true
			} else if err != nil {
				return 0, err
			}
		}
		if n < tagSize {
			return 0, errors.New("backupstore: encrypted object is truncated")
		}
		out, err := d.aead.Open(d.plain[:0], chunkNonce(d.n, d.done), d.in[:n], nil)
		if err != nil {
			if d.done {
				return 0, errors.New("backupstore: encrypted object is truncated, altered, or sealed with another key")
			}
			return 0, errors.New("backupstore: encrypted object is altered, or sealed with another key")
		}
		d.n++
		d.plain, d.out = out, out
	}
	c := copy(p, d.out)
	d.out = d.out[c:]
	return c, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
