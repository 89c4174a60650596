package conformance

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Verdict is what a server does with one message on APPEND.
type Verdict struct {
	Refused bool
	Reason  string // the server's NO text, when Refused
	Served  []byte // what it serves afterwards, when not Refused
}

// Altered reports whether the server serves other bytes than it was sent.
func (v Verdict) Altered(sent []byte) bool { return !v.Refused && !bytes.Equal(v.Served, sent) }

// Probe APPENDs each distinct message to a scratch account of the same
// server as a and reads it back: how that server treats those bytes, by
// SHA-256 of what was sent.
func Probe(t testing.TB, a *Account, raws [][]byte) map[string]Verdict {
	t.Helper()
	scratch := a.probe(t)
	c := scratch.Client(t)
	out := map[string]Verdict{}
	uids := map[imap.UID]string{}
	for _, raw := range raws {
		h := Msg{Raw: raw}.Hash()
		if _, done := out[h]; done {
			continue
		}
		uid, err := appendOne(c, "INBOX", Message{Raw: raw, Date: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)})
		var ie *imap.Error
		switch {
		case errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo:
			out[h] = Verdict{Refused: true, Reason: ie.Text}
		case err != nil:
			t.Fatalf("%s: probe APPEND: %v", a.Server, err)
		default:
			out[h] = Verdict{}
			uids[uid] = h
		}
	}
	f, err := readFolder(c, "INBOX")
	if err != nil {
		t.Fatalf("%s: probe FETCH: %v", a.Server, err)
	}
	for _, m := range f.Msgs {
		if h, ok := uids[m.UID]; ok {
			out[h] = Verdict{Served: m.Raw}
			delete(uids, m.UID)
		}
	}
	if len(uids) > 0 {
		t.Fatalf("%s: probe: %d APPENDed messages not found by their APPENDUID", a.Server, len(uids))
	}
	return out
}

// Expected is what a copy of src into target must look like.
type Expected struct {
	State   State              // the messages the target takes, as it serves them
	Refused map[string]Verdict // by hash of the source bytes: what the target refuses
	Altered int                // messages the target takes but serves otherwise
	// AlteredHash holds the hashes (of the source bytes) of those.
	AlteredHash map[string]bool
}

// Expect works out, by Probe, what target holds after a faithful copy of
// src: each message as the target serves those bytes, or refused.
func Expect(t testing.TB, src State, target *Account) Expected {
	t.Helper()
	var raws [][]byte
	for _, f := range src {
		for _, m := range f.Msgs {
			raws = append(raws, m.Raw)
		}
	}
	verdicts := Probe(t, target, raws)
	e := Expected{State: State{}, Refused: map[string]Verdict{}, AlteredHash: map[string]bool{}}
	for name, f := range src {
		nf := &Folder{Msgs: []Msg{}}
		for _, m := range f.Msgs {
			v := verdicts[m.Hash()]
			if v.Refused {
				e.Refused[m.Hash()] = v
				continue
			}
			if v.Altered(m.Raw) {
				e.Altered++
				e.AlteredHash[m.Hash()] = true
			}
			nm := m
			nm.Raw = v.Served
			nf.Msgs = append(nf.Msgs, nm)
		}
		e.State[name] = nf
	}
	return e
}

// RefusedCount is how many source messages (not distinct) are refused.
func (e Expected) RefusedCount(src State) int {
	n := 0
	for _, f := range src {
		for _, m := range f.Msgs {
			if _, ok := e.Refused[m.Hash()]; ok {
				n++
			}
		}
	}
	return n
}
