package archive

import (
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

// AgeSealer encrypts to recipients and decrypts with identities (either
// may be empty). noIdentity says why there is no identity, for the error
// when one is needed ("encryption.identity_file is not set").
func AgeSealer(recipients []age.Recipient, identities []age.Identity, noIdentity string) Sealer {
	return &ageSealer{recipients: recipients, identities: identities, why: noIdentity}
}

type ageSealer struct {
	recipients []age.Recipient
	identities []age.Identity
	why        string
}

func (s *ageSealer) Seal(dst io.Writer) (io.WriteCloser, error) {
	if len(s.recipients) == 0 {
		return nil, nil
	}
	return age.Encrypt(dst, s.recipients...)
}

func (s *ageSealer) Open(src io.Reader) (io.Reader, error) {
	if len(s.identities) == 0 {
		why := s.why
		if why == "" {
			why = "encryption.identity_file is not set"
		}
		return nil, fmt.Errorf("%w: %s", ErrNoIdentity, why)
	}
	r, err := age.Decrypt(src, s.identities...)
	var nm *age.NoIdentityMatchError
	if errors.As(err, &nm) {
		return nil, fmt.Errorf("%w: it is encrypted to other keys than the identity file holds", ErrNoIdentity)
	}
	return r, err
}

// checkAgeHeader reads an age header without an identity: a well-formed
// one fails only with "no identity matches". That is all that can be
// checked without the key: the payload is authenticated (ChaCha20-Poly1305)
// with a key only the identity can unwrap.
func checkAgeHeader(src io.Reader) error {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	_, err = age.Decrypt(src, id)
	var nm *age.NoIdentityMatchError
	if errors.As(err, &nm) {
		return nil
	}
	if err == nil {
		return errors.New("decrypted with a random key")
	}
	return fmt.Errorf("encrypted frame: %w", err)
}
