package imapconn

import (
	"bytes"
	"encoding/base64"
	"io"
	"sync"
)

// redactor is the protocol trace writer: it hides the secret in every form
// it can take on the wire (plain in LOGIN, base64 in AUTHENTICATE).
type redactor struct {
	w       io.Writer
	mu      sync.Mutex
	needles [][]byte
}

func (r *redactor) setSecret(user, secret string) {
	if secret == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	forms := []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + secret)),
		base64.StdEncoding.EncodeToString([]byte("user=" + user + "\x01auth=Bearer " + secret + "\x01\x01")),
	}
	for _, f := range forms {
		r.needles = append(r.needles, []byte(f))
	}
}

func (r *redactor) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := p
	for _, n := range r.needles {
		if bytes.Contains(out, n) {
			out = bytes.ReplaceAll(out, n, []byte("[redacted]"))
		}
	}
	// LOGIN sends the password as a quoted string or literal; hide the
	// whole line rather than parse it.
	if i := bytes.Index(out, []byte(" LOGIN ")); i >= 0 {
		out = append(append([]byte{}, out[:i]...), " LOGIN [redacted]\r\n"...)
	}
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
