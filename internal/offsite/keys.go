package offsite

import (
	"errors"
	"fmt"
	"io"
	"os"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
	"github.com/mailkeep/mailkeep/internal/config"
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
	// IdentityErr says why Identities is empty (not configured, file
	// missing), for the one-line error.
	IdentityErr error
}

// ErrNoIdentity is returned when encrypted data is read without an identity.
var ErrNoIdentity = errors.New("no identity to decrypt it")

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
			return nil, fmt.Errorf("the off-site copy is encrypted and there is %w: %s", ErrNoIdentity, k.why())
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

// why says which identity is missing.
func (k *Keys) why() string {
	switch {
	case k == nil:
		return "encryption.identity_file is not set"
	case k.IdentityErr != nil:
		return k.IdentityErr.Error()
	}
	return k.IdentityName + " holds no identity"
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// LoadKeys reads the age keys the config names: recipients (inline and
// from recipient_file) always, the identity file if it is set. A missing
// or unreadable identity file is not an error here, only when something
// encrypted has to be read (IdentityErr says why there is none).
func LoadKeys(e *config.Encryption) (*Keys, error) {
	k := &Keys{IdentityName: "encryption.identity_file"}
	if e == nil {
		k.IdentityErr = errors.New("no encryption: section in the config, so no identity_file")
		return k, nil
	}
	for _, s := range e.Recipients {
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, fmt.Errorf("encryption.recipients: %w", err)
		}
		k.Recipients = append(k.Recipients, r)
	}
	if e.RecipientFile != "" {
		f, err := os.Open(e.RecipientFile)
		if err != nil {
			return nil, fmt.Errorf("encryption.recipient_file: %w", err)
		}
		rs, err := age.ParseRecipients(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("encryption.recipient_file %s: %w", e.RecipientFile, err)
		}
		k.Recipients = append(k.Recipients, rs...)
	}
	if e.IdentityFile == "" {
		k.IdentityErr = errors.New("encryption.identity_file is not set")
		return k, nil
	}
	k.IdentityName = "encryption.identity_file " + e.IdentityFile
	f, err := os.Open(e.IdentityFile)
	if err != nil {
		k.IdentityErr = fmt.Errorf("encryption.identity_file: %w", err)
		return k, nil
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("encryption.identity_file %s: %w", e.IdentityFile, err)
	}
	k.Identities = ids
	return k, nil
}

// Why says which identity is missing, for the error when one is needed.
func (k *Keys) Why() string { return k.why() }
