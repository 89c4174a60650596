package imapsrv

import "github.com/emersion/go-imap/v2"

// The byte-exact section, envelope and body-structure code of this
// server, for other imapserver backends (internal/serve).

// BodySection is BODY[section] of raw, byte for byte where the section is
// the whole message, its header or its text.
func BodySection(raw []byte, sec *imap.FetchItemBodySection) []byte { return bodySection(raw, sec) }

// BinarySection is BINARY[section] of raw.
func BinarySection(raw []byte, sec *imap.FetchItemBinarySection) []byte {
	return binarySection(raw, sec)
}

// Envelope is raw's ENVELOPE.
func Envelope(raw []byte) *imap.Envelope { return envelope(raw) }

// BodyStructure is raw's BODYSTRUCTURE, safe to write.
func BodyStructure(raw []byte) imap.BodyStructure { return bodyStructure(raw) }
