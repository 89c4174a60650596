package dovecot

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// login dials plain IMAP (no TLS) and logs in; the connection is closed
// when the test ends.
func login(t *testing.T, srv *Server, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(srv.IMAPAddr, nil)
	if err != nil {
		t.Fatalf("DialInsecure(%s) = %v", srv.IMAPAddr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("Login(%s) = %v\n%s", user, err, srv.Log())
	}
	return c
}

func tlsConfig(srv *Server) *tls.Config {
	return &tls.Config{RootCAs: srv.CertPool()}
}

type fetched struct {
	uid   imap.UID
	sum   string
	size  int
	flags []imap.Flag
	date  time.Time
}

// fetchAll reads every message of a folder: SHA-256 of BODY.PEEK[],
// flags (without \Recent) and INTERNALDATE, in UID order.
func fetchAll(t *testing.T, c *imapclient.Client, folder string) []fetched {
	t.Helper()
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("Select(%q) = %v", folder, err)
	}
	cmd := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID:          true,
		Flags:        true,
		InternalDate: true,
		BodySection:  []*imap.FetchItemBodySection{{Peek: true}},
	})
	var out []fetched
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var f fetched
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				f.uid = item.UID
			case imapclient.FetchItemDataFlags:
				for _, fl := range item.Flags {
					if !strings.EqualFold(string(fl), `\Recent`) {
						f.flags = append(f.flags, fl)
					}
				}
			case imapclient.FetchItemDataInternalDate:
				f.date = item.Time
			case imapclient.FetchItemDataBodySection:
				h := sha256.New()
				n, err := io.Copy(h, item.Literal)
				if err != nil {
					t.Fatalf("read body: %v", err)
				}
				f.sum, f.size = hex.EncodeToString(h.Sum(nil)), int(n)
			}
		}
		out = append(out, f)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("UID FETCH 1:* in %q = %v", folder, err)
	}
	return out
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
