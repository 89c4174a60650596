package cyrus

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// saslpasswd adds or replaces a login in the private sasldb.
func (s *Server) saslpasswd(name, password string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "saslpasswd2", "-f", s.sasldb(), "-u", servername, "-c", "-p", name)
	cmd.Stdin = strings.NewReader(password)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("saslpasswd2 %s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	// imapd reads the db as the cyrus user.
	if err := os.Chown(s.sasldb(), s.uid, s.gid); err != nil {
		return err
	}
	return os.Chmod(s.sasldb(), 0o640)
}

// createUser gives a login a password and an INBOX (user.NAME, created by
// the admin, as an administrator provisions an account).
func (s *Server) createUser(name, password string) error {
	if name == "" || strings.ContainsAny(name, ".:@/\\%*\"\r\n\t ") {
		return fmt.Errorf("user name %q: not allowed here", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.passwords[name]; dup {
		return fmt.Errorf("user %s exists", name)
	}
	if err := s.saslpasswd(name, password); err != nil {
		return err
	}
	c, err := s.adminLocked()
	if err != nil {
		return err
	}
	if err := c.Create(s.userMailbox(name), nil).Wait(); err != nil {
		return fmt.Errorf("create %s: %w", s.userMailbox(name), err)
	}
	s.passwords[name] = password
	return nil
}

// NewUser adds a fresh account, named after the test, with its own random
// password, and returns its credentials; it can log in at once.
func (s *Server) NewUser(tb testing.TB) (name, password string) {
	tb.Helper()
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("cyrus: new user: %v", err)
	}
	password = hex.EncodeToString(b[:])
	s.mu.Lock()
	s.nextUser++
	name = fmt.Sprintf("%s-%d", userSlug(tb.Name()), s.nextUser)
	s.mu.Unlock()
	if err := s.createUser(name, password); err != nil {
		tb.Fatalf("cyrus: new user %s: %v\n%s", name, err, s.Log())
	}
	return name, password
}

// AddUser adds an account with a chosen name and password.
func (s *Server) AddUser(tb testing.TB, name, password string) {
	tb.Helper()
	if err := s.createUser(name, password); err != nil {
		tb.Fatalf("cyrus: add user %s: %v\n%s", name, err, s.Log())
	}
}

// PasswordOf returns a login's password ("" for an unknown one).
func (s *Server) PasswordOf(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.passwords[name]
}

// userSlug turns a test name into the start of a user name: lower case
// letters, digits and '-' (no '.', Cyrus' internal separator).
func userSlug(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	slug := strings.Trim(b.String(), "-")
	if slug == "" {
		slug = "user"
	}
	return slug
}

// userMailbox is a user's mailbox as the admin names it: user.NAME.A.B
// (LayoutDebian) or user/NAME/A/B (LayoutAlt).
func (s *Server) userMailbox(name string, levels ...string) string {
	d := string(s.Delimiter)
	return strings.Join(append([]string{"user", name}, levels...), d)
}

// adminLocked returns the admin's connection, dialling it on first use.
// s.mu must be held, and stays held while the connection is used.
func (s *Server) adminLocked() (*imapclient.Client, error) {
	if s.admin != nil {
		select {
		case <-s.admin.Closed():
			s.admin = nil
		default:
			return s.admin, nil
		}
	}
	c, err := s.dial(s.Admin, s.AdminPassword)
	if err != nil {
		return nil, err
	}
	s.admin = c
	return c, nil
}

// dial logs a user in over plain IMAP.
func (s *Server) dial(user, password string) (*imapclient.Client, error) {
	c, err := imapclient.DialInsecure(s.IMAPAddr, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", s.IMAPAddr, err)
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login %s: %w", user, err)
	}
	return c, nil
}

// Login returns a logged-in IMAP connection for a user (the admin too),
// closed when the test ends.
func (s *Server) Login(tb testing.TB, user string) *imapclient.Client {
	tb.Helper()
	pass := s.PasswordOf(user)
	if pass == "" {
		tb.Fatalf("cyrus: login %s: unknown user", user)
	}
	c, err := s.dial(user, pass)
	if err != nil {
		tb.Fatalf("cyrus: %v\n%s", err, s.Log())
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// AdminDo runs fn on the admin's connection (one at a time).
func (s *Server) AdminDo(tb testing.TB, fn func(c *imapclient.Client) error) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.adminLocked()
	if err == nil {
		err = fn(c)
	}
	if err != nil {
		tb.Fatalf("cyrus: admin: %v\n%s", err, s.Log())
	}
}
