package mailfmt

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/sample"
)

// readAll reads every message of r: bodies, and the problems in order.
func readAll(t *testing.T, r Reader) (msgs []*Message, bodies [][]byte, problems []error) {
	t.Helper()
	for {
		m, err := r.Next()
		if err == io.EOF {
			return
		}
		var p *Problem
		if errors.As(err, &p) {
			problems = append(problems, err)
			continue
		}
		if err != nil {
			t.Fatalf("Next() = %v", err)
		}
		b, err := io.ReadAll(m.Body)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		msgs = append(msgs, m)
		bodies = append(bodies, b)
	}
}

func TestMboxRoundTrip(t *testing.T) {
	msgs := sample.Awkward()
	extra := []string{
		"From: a@example.com\nSubject: x\n\nFrom here\n>From there\n>>From everywhere\nFrom\nFromage\n",
		"Subject: ends in two newlines\n\nbody\n\n",
		"Subject: ends in CR\r\n\r\nbody\r",
		"\n",
		"\n\n",
		"From \n",
		">From \nFrom x Mon Mar  4 05:06:07 2019\n",
		"Subject: crlf from\r\n\r\nFrom x Mon Mar  4 05:06:07 2019\r\n>From y\r\n",
	}
	for i, e := range extra {
		msgs = append(msgs, sample.Message{Name: "extra-" + string(rune('a'+i)), Raw: []byte(e)})
	}
	msgs = append(msgs, sample.Generate(30, 7)...)
	dir := t.TempDir()
	w := NewMboxWriter(dir)
	folder := Folder{Name: "Archive/2019", Delim: '/'}
	date := time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC)
	for i, m := range msgs {
		path, err := w.Add(folder, &Message{Body: bytes.NewReader(m.Raw), Size: int64(len(m.Raw)), Date: date.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			t.Fatalf("Add(%s) = %v", m.Name, err)
		}
		if want := filepath.Join(dir, "Archive", "2019.mbox"); path != want {
			t.Fatalf("Add() path = %s, want %s", path, want)
		}
		if _, err := os.Stat(path); err == nil {
			t.Fatalf("%s exists before Close: a half-written mbox under its final name", path)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "Archive"))
	if len(ents) != 1 {
		t.Errorf("Archive/ holds %d entries, want only 2019.mbox (no temporary files)", len(ents))
	}
	r, err := OpenMbox(filepath.Join(dir, "Archive", "2019.mbox"), MboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, bodies, problems := readAll(t, r)
	if len(problems) > 0 {
		t.Fatalf("problems reading back: %v", problems)
	}
	if len(got) != len(msgs) {
		t.Fatalf("read %d messages, wrote %d", len(got), len(msgs))
	}
	for i, m := range msgs {
		if !bytes.Equal(bodies[i], m.Raw) {
			t.Errorf("message %d (%s) = %q, want %q", i, m.Name, trunc(bodies[i]), trunc(m.Raw))
		}
		if want := date.Add(time.Duration(i) * time.Hour); !got[i].Date.Equal(want) {
			t.Errorf("message %d date = %v, want %v", i, got[i].Date, want)
		}
		if got[i].Sender == "" || strings.ContainsAny(got[i].Sender, " \t") {
			t.Errorf("message %d sender = %q", i, got[i].Sender)
		}
	}
}

func trunc(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func TestMboxWriterQuotes(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"plain", "Subject: a\n\nhi\n", "Subject: a\n\nhi\n\n"},
		{"from line", "S: a\n\nFrom me\n", "S: a\n\n>From me\n\n"},
		{"quoted from", "S: a\n\n>From me\n>>From you\n", "S: a\n\n>>From me\n>>>From you\n\n"},
		{"first line", "From x\n", ">From x\n\n"},
		{"not a from line", "S: a\n\nFrom\nFromage\n >From x\n", "S: a\n\nFrom\nFromage\n >From x\n\n"},
		{"no final newline", "S: a\n\nend", "S: a\n\nend\n"},
		{"empty", "", "\n"},
		{"crlf", "S: a\r\n\r\nFrom x\r\n", "S: a\r\n\r\n>From x\r\n\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := NewMboxWriter(dir)
			if _, err := w.Add(Folder{Name: "INBOX"}, &Message{Body: strings.NewReader(tc.raw), Size: -1, Sender: "s@x",
				Date: time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC)}); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(dir, "INBOX.mbox"))
			want := "From s@x Mon Mar  4 05:06:07 2019\n" + tc.want
			if string(b) != want {
				t.Errorf("file = %q, want %q", b, want)
			}
		})
	}
}

func TestMboxSender(t *testing.T) {
	tests := []struct{ name, head, want string }{
		{"return-path", "Return-Path: <bounce@example.com>\nFrom: A <a@example.com>\n\n", "bounce@example.com"},
		{"null return-path", "Return-Path: <>\nFrom: a@example.com\n\n", "MAILER-DAEMON"},
		{"from angle", "From: Jürgen <j@example.de>\n\n", "j@example.de"},
		{"from bare", "From: a@example.com (A)\n\n", "a@example.com"},
		{"folded", "From: A\n <a@example.com>\n\n", "a@example.com"},
		{"none", "Subject: x\n\n", "MAILER-DAEMON"},
		{"in body only", "Subject: x\n\nFrom: b@example.com\n", "MAILER-DAEMON"},
		{"space in addr", "From: <a b@example.com>\n\n", "MAILER-DAEMON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EnvelopeSender([]byte(tc.head)); got != tc.want {
				t.Errorf("EnvelopeSender() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMboxReader(t *testing.T) {
	type want struct {
		bodies   []string
		problems []string // substrings, in order
		lines    []int    // From_ line numbers
	}
	tests := []struct {
		name string
		in   string
		opts MboxOptions
		want want
	}{
		{"empty file", "", MboxOptions{}, want{}},
		{"only newlines", "\n\n", MboxOptions{}, want{}},
		{"not an mbox", "Subject: hello\n\nbody\n", MboxOptions{}, want{problems: []string{"line 1: not an mbox"}}},
		{"binary", "\x00\x01\x02PK\x03\x04", MboxOptions{}, want{problems: []string{"line 1: not an mbox"}}},
		{"leading blank lines", "\n\nFrom a Mon Mar  4 05:06:07 2019\nS: 1\n\nx\n\n", MboxOptions{},
			want{bodies: []string{"S: 1\n\nx\n"}, lines: []int{3}}},
		{"two messages", "From a Mon Mar  4 05:06:07 2019\nS: 1\n\n>From x\n\nFrom b Tue Mar  5 05:06:07 2019\nS: 2\n\ny\n\n",
			MboxOptions{}, want{bodies: []string{"S: 1\n\nFrom x\n", "S: 2\n\ny\n"}, lines: []int{1, 6}}},
		{"mboxrd unquote", "From a Mon Mar  4 05:06:07 2019\n>>From x\n>From y\n>Fromage\n\n", MboxOptions{},
			want{bodies: []string{">From x\nFrom y\n>Fromage\n"}}},
		{"mboxo unquote", "From a Mon Mar  4 05:06:07 2019\n>>From x\n>From y\n\n", MboxOptions{MboxO: true},
			want{bodies: []string{">>From x\nFrom y\n"}}},
		{"no-space quoting", "From a Mon Mar  4 05:06:07 2019\n>Fromage\n>>From x\n\n", MboxOptions{QuoteNoSpace: true},
			want{bodies: []string{"Fromage\n>From x\n"}}},
		{"unquoted body From line kept", "From a Mon Mar  4 05:06:07 2019\nS: 1\n\nFrom the start we knew\n\n", MboxOptions{},
			want{bodies: []string{"S: 1\n\nFrom the start we knew\n"}}},
		{"From_ line variants", "From a Mon Mar  4 05:06:07 2019\nx\n\nFrom - Sat Jan 01 00:00:00 2011\ny\n\nFrom b@c Tue, 12 Mar 2019 10:11:12 +0100\nz\n\n",
			MboxOptions{}, want{bodies: []string{"x\n", "y\n", "z\n"}, lines: []int{1, 4, 7}}},
		{"truncated", "From a Mon Mar  4 05:06:07 2019\nS: 1\n\nx\n\nFrom b Mon Mar  4 05:06:07 2019\nS: 2\n\nhalf a li",
			MboxOptions{}, want{bodies: []string{"S: 1\n\nx\n"}, problems: []string{"line 9: message from line 6: file ends in the middle of a line"}}},
		{"crlf", "From a Mon Mar  4 05:06:07 2019\r\nS: 1\r\n\r\nx\r\n\nFrom b Mon Mar  4 05:06:07 2019\r\ny\r\n\n", MboxOptions{},
			want{bodies: []string{"S: 1\r\n\r\nx\r\n", "y\r\n"}}},
		{"empty message", "From a Mon Mar  4 05:06:07 2019\n\nFrom b Mon Mar  4 05:06:07 2019\nx\n\n", MboxOptions{},
			want{bodies: []string{"", "x\n"}}},
		{"single", "From a Mon Mar  4 05:06:07 2019\nFrom b Mon Mar  4 05:06:07 2019\nx\n\n", MboxOptions{Single: true},
			want{bodies: []string{"From b Mon Mar  4 05:06:07 2019\nx\n"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewMboxReader(strings.NewReader(tc.in), "test.mbox", tc.opts)
			msgs, bodies, problems := readAll(t, r)
			if len(bodies) != len(tc.want.bodies) {
				t.Fatalf("read %d messages %q, want %d %q", len(bodies), bodies, len(tc.want.bodies), tc.want.bodies)
			}
			for i := range bodies {
				if string(bodies[i]) != tc.want.bodies[i] {
					t.Errorf("message %d = %q, want %q", i, bodies[i], tc.want.bodies[i])
				}
			}
			for i, l := range tc.want.lines {
				if msgs[i].Line != l {
					t.Errorf("message %d line = %d, want %d", i, msgs[i].Line, l)
				}
			}
			if len(problems) != len(tc.want.problems) {
				t.Fatalf("problems = %v, want %q", problems, tc.want.problems)
			}
			for i, p := range problems {
				if !strings.Contains(p.Error(), tc.want.problems[i]) || !strings.Contains(p.Error(), "test.mbox") {
					t.Errorf("problem %d = %q, want it to name test.mbox and contain %q", i, p, tc.want.problems[i])
				}
			}
		})
	}
}

// TestMboxTruncatedIsErrTruncated: the caller can tell a cut-short file.
func TestMboxTruncatedIsErrTruncated(t *testing.T) {
	r := NewMboxReader(strings.NewReader("From a Mon Mar  4 05:06:07 2019\nhalf"), "t.mbox", MboxOptions{})
	m, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(m.Body)
	if !errors.Is(err, ErrTruncated) {
		t.Errorf("ReadAll() error = %v, want ErrTruncated", err)
	}
}

// TestMboxBigMessageStreams: a 64 MB message goes through writer and
// reader without being held in memory.
func TestMboxBigMessageStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("big message")
	}
	const size = 64 << 20
	dir := t.TempDir()
	w := NewMboxWriter(dir)
	src := &patternReader{n: size}
	if _, err := w.Add(Folder{Name: "INBOX"}, &Message{Body: src, Size: size}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenMbox(filepath.Join(dir, "INBOX.mbox"), MboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(&compareWriter{want: &patternReader{n: size}}, m.Body)
	if err != nil || n != size {
		t.Fatalf("read back %d bytes, %v; want %d identical bytes", n, err, size)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("Next() after the only message = %v, want EOF", err)
	}
}

// patternReader yields n bytes of text lines, some starting with "From ".
type patternReader struct{ n, off int }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	const line = "From the pattern, a line of text that repeats and repeats\n"
	i := 0
	for ; i < len(b) && p.off < p.n; i++ {
		b[i] = line[p.off%len(line)]
		p.off++
	}
	return i, nil
}

type compareWriter struct {
	want io.Reader
	off  int64
}

func (c *compareWriter) Write(b []byte) (int, error) {
	w := make([]byte, len(b))
	if _, err := io.ReadFull(c.want, w); err != nil || !bytes.Equal(w, b) {
		return 0, errors.New("bytes differ near offset " + string(rune('0'+c.off%10)))
	}
	c.off += int64(len(b))
	return len(b), nil
}
