package imapsrv

import "bytes"

// SetMunge8Bit makes APPEND store every raw 8-bit byte of a message's
// header section (up to the first empty line) as "X", keeping the length,
// as Cyrus does with munge8bit (its default): for tests of targets that
// alter what they store.
func (s *Server) SetMunge8Bit(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acl.munge8bit = on
}

// appended is what APPEND stores of raw.
func (s *Server) appended(raw []byte) []byte {
	s.mu.RLock()
	on := s.acl.munge8bit
	s.mu.RUnlock()
	if !on {
		return raw
	}
	end := len(raw)
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\n' && (i == 0 || (i == 1 && raw[0] == '\r') || bytes.HasPrefix(raw[i+1:], []byte("\n")) ||
			bytes.HasPrefix(raw[i+1:], []byte("\r\n"))) {
			end = i
			break
		}
	}
	for i := 0; i < end; i++ {
		if raw[i] >= 0x80 {
			raw[i] = 'X'
		}
	}
	return raw
}
