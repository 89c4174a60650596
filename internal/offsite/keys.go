package offsite

import (
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

// Keys are the age keys of an encrypted off-site copy. With no
// Recipients, push sends the index unencrypted; reading an encrypted index
// needs Identities.
type Keys struct {
	Recipients []age.Recipient
	Identities []age.Identity
	// IdentityName names where the identity should come from, for the
	// error when there is none ("encryption.identity_file in mailkeep.yaml").
	IdentityName string
}

// ErrNoIdentity is returned when encrypted data is read without an identity.
var ErrNoIdentity = errors.New("no identity to decrypt with")

// sealIndex compresses the index file src into w, encrypting when k has
// recipients.
func sealIndex(w io.Writer, src io.Reader, k *Keys) error {
	var out io.WriteCloser = nopCloser{w}
	if k != nil && len(k.Recipients) > 0 {
		aw, err := age.Encrypt(w, k.Recipients...)
		if err != nil {
			return err
		}
		out = aw
	}
	zw, err := zstd.NewWriter(out, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, src); err != nil {
		zw.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return out.Close()
}

// openIndex undoes sealIndex.
func openIndex(r io.Reader, encrypted bool, k *Keys) (io.ReadCloser, error) {
	if encrypted {
		if k == nil || len(k.Identities) == 0 {
			name := "encryption.identity_file"
			if k != nil && k.IdentityName != "" {
				name = k.IdentityName
			}
			return nil, fmt.Errorf("the off-site index is encrypted: %w (set %s)", ErrNoIdentity, name)
		}
		ar, err := age.Decrypt(r, k.Identities...)
		if err != nil {
			return nil, fmt.Errorf("decrypt the off-site index: %w", err)
		}
		r = ar
	}
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, err
	}
	return zr.IOReadCloser(), nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
