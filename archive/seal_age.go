package archive

import (
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// AgeSealer encrypts to recipients and decrypts with identities (either
// may be empty). noIdentity says why there is no identity, for the error
// when one is needed ("encryption.identity_file is not set").
//
// Every message is a complete age v1 file (age -d reads it), but the
// messages one AgeSealer writes share one file key: the recipients wrap
// it once (X25519 costs ~100 us a message otherwise, more than zstd and
// SHA-256 together) and the header is repeated in each; each message has
// its own random 16-byte nonce, from which age derives a distinct payload
// key. Reading caches unwrapped file keys the same way.
func AgeSealer(recipients []age.Recipient, identities []age.Identity, noIdentity string) Sealer {
	s := &ageSealer{recipients: recipients, why: noIdentity}
	if len(identities) > 0 {
		s.identity = &cachedIdentity{ids: identities, keys: map[string][]byte{}}
	}
	return s
}

type ageSealer struct {
	recipients []age.Recipient
	identity   *cachedIdentity
	why        string

	once    sync.Once
	fileKey []byte
	header  []byte // "age-encryption.org/v1\n" ... "--- MAC\n"
	err     error
}

const (
	ageIntro     = "age-encryption.org/v1\n"
	ageChunk     = 64 << 10
	ageNonceSize = 16
)

var ageB64 = base64.RawStdEncoding.Strict()

// makeHeader wraps a new file key for the recipients and writes the age
// header that names it (age-encryption.org/v1, "Header").
func (s *ageSealer) makeHeader() {
	s.fileKey = make([]byte, 16)
	rand.Read(s.fileKey)
	var h bytes.Buffer
	h.WriteString(ageIntro)
	for i, r := range s.recipients {
		stanzas, err := r.Wrap(s.fileKey)
		if err != nil {
			s.err = fmt.Errorf("wrap the key for recipient %d: %w", i+1, err)
			return
		}
		for _, st := range stanzas {
			if err := writeStanza(&h, st); err != nil {
				s.err = err
				return
			}
		}
	}
	h.WriteString("---")
	mac := hmac.New(sha256.New, hkdfKey(s.fileKey, nil, "header"))
	mac.Write(h.Bytes())
	h.WriteString(" " + ageB64.EncodeToString(mac.Sum(nil)) + "\n")
	s.header = h.Bytes()
}

func writeStanza(w *bytes.Buffer, st *age.Stanza) error {
	for _, a := range append([]string{st.Type}, st.Args...) {
		if a == "" || strings.ContainsAny(a, " \n\r\t") {
			return fmt.Errorf("invalid age stanza argument %q", a)
		}
	}
	w.WriteString("-> " + strings.Join(append([]string{st.Type}, st.Args...), " ") + "\n")
	body := ageB64.EncodeToString(st.Body)
	for len(body) >= 64 {
		w.WriteString(body[:64] + "\n")
		body = body[64:]
	}
	// The last line is shorter than 64 columns, possibly empty.
	w.WriteString(body + "\n")
	return nil
}

func hkdfKey(secret, salt []byte, info string) []byte {
	k := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, salt, []byte(info)), k); err != nil {
		panic("hkdf: " + err.Error())
	}
	return k
}

func (s *ageSealer) Seal(dst io.Writer) (io.WriteCloser, error) {
	if len(s.recipients) == 0 {
		return nil, nil
	}
	s.once.Do(s.makeHeader)
	if s.err != nil {
		return nil, s.err
	}
	nonce := make([]byte, ageNonceSize)
	rand.Read(nonce)
	if _, err := dst.Write(s.header); err != nil {
		return nil, err
	}
	if _, err := dst.Write(nonce); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(hkdfKey(s.fileKey, nonce, "payload"))
	if err != nil {
		return nil, err
	}
	return &ageStream{aead: aead, dst: dst, buf: make([]byte, 0, 4096)}, nil
}

// ageStream is age's STREAM payload: 64 KiB chunks, ChaCha20-Poly1305,
// nonce = 11-byte counter || last-chunk flag.
type ageStream struct {
	aead  cipher.AEAD
	dst   io.Writer
	buf   []byte
	nonce [chacha20poly1305.NonceSize]byte
	err   error
}

func (w *ageStream) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	total := len(p)
	for len(p) > 0 {
		n := min(len(p), ageChunk-len(w.buf))
		w.buf = append(w.buf, p[:n]...)
		p = p[n:]
		// A full chunk goes once more bytes follow: only then is it not the last.
		if len(w.buf) == ageChunk && len(p) > 0 {
			if w.err = w.flush(false); w.err != nil {
				return 0, w.err
			}
		}
	}
	return total, nil
}

func (w *ageStream) flush(last bool) error {
	if last {
		w.nonce[len(w.nonce)-1] = 1
	}
	ct := w.aead.Seal(w.buf[len(w.buf):len(w.buf)], w.nonce[:], w.buf, nil)
	if _, err := w.dst.Write(ct); err != nil {
		return err
	}
	for i := len(w.nonce) - 2; i >= 0; i-- {
		if w.nonce[i]++; w.nonce[i] != 0 {
			break
		}
	}
	w.buf = w.buf[:0]
	return nil
}

func (w *ageStream) Close() error {
	if w.err != nil {
		return w.err
	}
	w.err = w.flush(true)
	if w.err == nil {
		w.err = errors.New("age stream closed")
		return nil
	}
	return w.err
}

func (s *ageSealer) Open(src io.Reader) (io.Reader, error) {
	if s.identity == nil {
		why := s.why
		if why == "" {
			why = "encryption.identity_file is not set"
		}
		return nil, fmt.Errorf("%w: %s", ErrNoIdentity, why)
	}
	r, err := age.Decrypt(src, s.identity)
	var nm *age.NoIdentityMatchError
	if errors.As(err, &nm) {
		return nil, fmt.Errorf("%w: it is encrypted to other keys than the identity file holds", ErrNoIdentity)
	}
	return r, err
}

// cachedIdentity unwraps a header's file key once: the messages of one
// writer share it. age.Decrypt still checks the header's MAC and the
// payload with the key it returns.
type cachedIdentity struct {
	ids  []age.Identity
	mu   sync.Mutex
	keys map[string][]byte // stanzas, serialised -> file key
}

func (c *cachedIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	var k bytes.Buffer
	for _, st := range stanzas {
		if err := writeStanza(&k, st); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	fk, ok := c.keys[k.String()]
	c.mu.Unlock()
	if ok {
		return fk, nil
	}
	for _, id := range c.ids {
		fk, err := id.Unwrap(stanzas)
		if errors.Is(err, age.ErrIncorrectIdentity) {
			continue
		}
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if len(c.keys) >= 4096 {
			clear(c.keys)
		}
		c.keys[k.String()] = fk
		c.mu.Unlock()
		return fk, nil
	}
	return nil, age.ErrIncorrectIdentity
}

// noKey parses a header and unwraps nothing.
type noKey struct{}

func (noKey) Unwrap([]*age.Stanza) ([]byte, error) { return nil, age.ErrIncorrectIdentity }

// checkAgeHeader reads an age header without an identity: a well-formed
// one fails only with "no identity matches". That is all that can be
// checked without the key: the header MAC and the payload (ChaCha20-
// Poly1305) are keyed by the file key only the identity unwraps.
func checkAgeHeader(src io.Reader) error {
	_, err := age.Decrypt(src, noKey{})
	var nm *age.NoIdentityMatchError
	if errors.As(err, &nm) {
		return nil
	}
	if err == nil {
		return errors.New("decrypted with a random key")
	}
	return fmt.Errorf("encrypted frame: %w", err)
}
