// Package sample makes deterministic sample mail for mailkeep's demo and
// tests: ordinary messages plus every awkward kind a backup must keep
// byte for byte.
package sample

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Message is one sample message and where it belongs.
type Message struct {
	Name   string // what is awkward about it, or "plain"
	Folder string
	Raw    []byte
	Flags  []string
	Date   time.Time
}

// Folders are the sample account's folders with their special use.
var Folders = []struct{ Name, SpecialUse string }{
	{"INBOX", ""},
	{"Sent", `\Sent`},
	{"Archive/2019", ""},
	{"Entwürfe", `\Drafts`},
	{"Lists/dovecot", ""},
}

// Awkward returns one message of each kind that breaks naive mail code.
func Awkward() []Message {
	long := strings.Repeat("x", 5000)
	line4096 := strings.Repeat("y", 4094) // + CRLF = 4096 bytes
	return []Message{
		{Name: "empty", Raw: []byte{}},
		{Name: "no-headers", Raw: []byte("no header at all, just text\r\n")},
		{Name: "no-separator", Raw: []byte("Subject: headers only\r\nFrom: a@example.com\r\n")},
		{Name: "bare-lf", Raw: []byte("Subject: bare LF\nFrom: lf@example.com\n\nline one\nline two\n")},
		{Name: "mixed-line-ends", Raw: []byte("Subject: mixed\r\n\r\ncrlf\r\nlf\ncr\ralone\r\n")},
		{Name: "nul-bytes", Raw: []byte("Subject: NUL\r\n\r\nbefore\x00after\r\n")},
		{Name: "8bit-headers", Raw: []byte("Subject: Grüße aus Zürich\r\nFrom: Jürgen <j@example.de>\r\n\r\nRaw UTF-8 body: 日本語\r\n")},
		{Name: "latin1-8bit", Raw: []byte("Subject: caf\xe9\r\n\r\nna\xefve \xff\xfe\r\n")},
		{Name: "long-line", Raw: []byte("Subject: long line\r\n\r\n" + long + "\r\nend\r\n")},
		{Name: "4096-then-dot", Raw: []byte("Subject: 4096 then dot\r\n\r\n" + line4096 + "\r\n.\r\nafter\r\n")},
		{Name: "dot-lines", Raw: []byte("Subject: dots\r\n\r\n.\r\n..\r\n.leading dot\r\n")},
		{Name: "from-line", Raw: []byte("From sender@example.com Mon Mar  4 05:06:07 2019\r\nSubject: starts with From\r\n\r\nFrom the start\r\n>From quoted\r\n")},
		{Name: "rfc2047", Raw: []byte("Subject: =?UTF-8?B?w4Fyb3PDrXRvIGF1ZmfDvGhydW5n?=\r\nFrom: =?ISO-8859-1?Q?Andr=E9?= <a@example.fr>\r\n\r\nencoded words\r\n")},
		{Name: "no-final-newline", Raw: []byte("Subject: no final newline\r\n\r\nends without CRLF")},
	}
}

// Generate returns n ordinary messages spread over Folders, deterministic
// for a seed, with a few exact duplicates across folders (dedup) and some
// with attachments.
func Generate(n int, seed uint64) []Message {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	words := strings.Fields("the quick brown fox jumps over lazy dog mail backup archive server folder " +
		"message invoice meeting report budget release patch review kernel dovecot imap maildir sync")
	base := time.Date(2015, 1, 1, 9, 0, 0, 0, time.UTC)
	zones := []*time.Location{time.UTC, time.FixedZone("", 3600), time.FixedZone("", -7*3600), time.FixedZone("", 5*3600+1800)}
	var out []Message
	for i := 0; i < n; i++ {
		folder := Folders[rng.IntN(len(Folders))].Name
		if i%3 == 0 {
			folder = "INBOX"
		}
		date := base.Add(time.Duration(rng.Int64N(int64(10 * 365 * 24 * time.Hour)))).In(zones[rng.IntN(len(zones))]).Truncate(time.Second)
		var b bytes.Buffer
		fmt.Fprintf(&b, "Return-Path: <sender%d@example.com>\r\n", i%17)
		fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
		fmt.Fprintf(&b, "From: Sender %d <sender%d@example.com>\r\n", i%17, i%17)
		fmt.Fprintf(&b, "To: alice@example.org\r\n")
		fmt.Fprintf(&b, "Subject: %s %s %d\r\n", words[rng.IntN(len(words))], words[rng.IntN(len(words))], i)
		fmt.Fprintf(&b, "Message-ID: <%d.%d@sample.example>\r\n", seed, i)
		fmt.Fprintf(&b, "MIME-Version: 1.0\r\n")
		if i%10 == 7 {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
			fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\n\r\nSee the attachment.\r\n--b%d\r\n", i)
			fmt.Fprintf(&b, "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
			chunk := make([]byte, 57)
			for j := 0; j < 200+rng.IntN(2000); j++ {
				for k := range chunk {
					chunk[k] = byte(rng.Uint32())
				}
				b.WriteString(b64(chunk))
				b.WriteString("\r\n")
			}
			fmt.Fprintf(&b, "--b%d--\r\n", i)
		} else {
			fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\n\r\n")
			lines := 5 + rng.IntN(200)
			for j := 0; j < lines; j++ {
				for k := 0; k < 8+rng.IntN(6); k++ {
					if k > 0 {
						b.WriteByte(' ')
					}
					b.WriteString(words[rng.IntN(len(words))])
				}
				b.WriteString("\r\n")
			}
		}
		var flags []string
		if rng.IntN(3) > 0 {
			flags = append(flags, `\Seen`)
		}
		if rng.IntN(10) == 0 {
			flags = append(flags, `\Flagged`)
		}
		if rng.IntN(15) == 0 {
			flags = append(flags, "$Label1")
		}
		m := Message{Name: "plain", Folder: folder, Raw: b.Bytes(), Flags: flags, Date: date}
		out = append(out, m)
		if i%25 == 24 { // the same bytes filed in a second folder
			dup := m
			dup.Folder = "Archive/2019"
			out = append(out, dup)
		}
	}
	return out
}

func b64(p []byte) string {
	const enc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var sb strings.Builder
	for i := 0; i+2 < len(p); i += 3 {
		v := uint(p[i])<<16 | uint(p[i+1])<<8 | uint(p[i+2])
		sb.WriteByte(enc[v>>18&63])
		sb.WriteByte(enc[v>>12&63])
		sb.WriteByte(enc[v>>6&63])
		sb.WriteByte(enc[v&63])
	}
	return sb.String()
}
