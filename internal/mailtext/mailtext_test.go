package mailtext

import (
	"strings"
	"testing"
)

const multipart = "From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <jm@example.org>\r\n" +
	"To: a@example.org, \"Bee\" <b@example.org>\r\n" +
	"Cc: c@example.org\r\n" +
	"Subject: =?UTF-8?B?w5xiZXJ3ZWlzdW5n?= report\r\n" +
	"Date: Tue, 3 Jan 2006 15:04:05 +0100\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=XX\r\n" +
	"\r\n" +
	"--XX\r\n" +
	"Content-Type: multipart/alternative; boundary=YY\r\n" +
	"\r\n" +
	"--YY\r\n" +
	"Content-Type: text/plain; charset=iso-8859-1\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Gr=FC=DFe aus K=F6ln\r\n" +
	"--YY\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"\r\n" +
	"<html><head><style>p{color:red}</style></head><body><p>Hello &amp; <b>welcome</b></p><script>var zzz=1</script></body></html>\r\n" +
	"--YY--\r\n" +
	"--XX\r\n" +
	"Content-Type: application/pdf; name=\"invoice.pdf\"\r\n" +
	"Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"JVBERi0xLjQK\r\n" +
	"--XX--\r\n"

func TestExtract(t *testing.T) {
	d := Extract([]byte(multipart))
	for _, tc := range []struct{ name, got, want string }{
		{"From", d.From, "Jörg Müller <jm@example.org>"},
		{"To", d.To, "a@example.org, Bee <b@example.org>"},
		{"Cc", d.Cc, "c@example.org"},
		{"Subject", d.Subject, "Überweisung report"},
	} {
		if tc.got != tc.want {
			t.Errorf("Extract().%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	for _, want := range []string{"Grüße aus Köln", "Hello & welcome"} {
		if !strings.Contains(d.Body, want) {
			t.Errorf("Extract().Body = %q, want it to contain %q", d.Body, want)
		}
	}
	for _, not := range []string{"color:red", "zzz", "<b>", "JVBERi0"} {
		if strings.Contains(d.Body, not) {
			t.Errorf("Extract().Body = %q contains %q", d.Body, not)
		}
	}
	if d.Attachments != 1 || !d.HasDate || d.Date.Year() != 2006 {
		t.Errorf("Extract() attachments %d, date %v %v; want 1, 2006", d.Attachments, d.HasDate, d.Date)
	}
}

func TestExtractTolerant(t *testing.T) {
	for _, tc := range []struct{ name, raw, want string }{
		{"NoHeader", "just a line of text\r\n", "just a line"},
		{"BareLF", "Subject: hi\n\nbare lf body\n", "bare lf body"},
		{"UnknownCharset", "Subject: x\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nstill readable\r\n", "still readable"},
		{"BrokenMultipart", "Subject: x\r\nContent-Type: multipart/mixed; boundary=Q\r\n\r\n--Q\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n", "first part"},
		{"Empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Extract([]byte(tc.raw))
			if !strings.Contains(d.Body+d.Subject, tc.want) {
				t.Errorf("Extract(%q) = %+v, want %q in the body", tc.raw, d, tc.want)
			}
		})
	}
}

func TestReadAndPartBody(t *testing.T) {
	r := Read([]byte(multipart))
	if len(r.Parts) != 3 || r.Parts[2].Filename != "invoice.pdf" || !r.Parts[2].Attachment || r.Parts[0].Type != "text/plain" {
		t.Fatalf("Read().Parts = %+v", r.Parts)
	}
	if !strings.Contains(r.Body, "Grüße") || strings.Contains(r.Body, "welcome") {
		t.Errorf("Read().Body = %q, want the plain text part only", r.Body)
	}
	if len(r.Headers) != 5 || r.Headers[4].Value != "Überweisung report" {
		t.Errorf("Read().Headers = %+v", r.Headers)
	}
	b, p, err := PartBody([]byte(multipart), 3)
	if err != nil || string(b) != "%PDF-1.4\n" || p.Filename != "invoice.pdf" {
		t.Errorf("PartBody(3) = %q, %+v, %v", b, p, err)
	}
	if _, _, err := PartBody([]byte(multipart), 9); err == nil {
		t.Errorf("PartBody(9) = nil error, want ErrNoPart")
	}
}

func TestStripHTML(t *testing.T) {
	got := StripHTML("<p>one</p><!-- hidden --><div>two&nbsp;&lt;3&gt;</div><br>three")
	if got != "one\n\ntwo <3>\n\nthree" {
		t.Errorf("StripHTML() = %q", got)
	}
}
