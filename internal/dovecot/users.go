package dovecot

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mailkeep/mailkeep/internal/srvproc"
)

// MailUser is the unprivileged system user that owns the mail of every
// test instance: Dovecot refuses to run mail processes as root. Start
// creates it when missing.
const MailUser = "mailkeep-test"

func ensureMailUser() (uid, gid int, err error) {
	u, err := user.Lookup(MailUser)
	if err != nil {
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return 0, 0, fmt.Errorf("look up user %s: %w", MailUser, err)
		}
		useradd, lerr := exec.LookPath("useradd")
		if lerr != nil {
			useradd = "/usr/sbin/useradd"
		}
		out, aerr := exec.Command(useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent",
			"--shell", "/usr/sbin/nologin", MailUser).CombinedOutput()
		// Another test binary may have created it at the same moment.
		if u, err = user.Lookup(MailUser); err != nil {
			return 0, 0, fmt.Errorf("create system user %s: %v: %s", MailUser, aerr, strings.TrimSpace(string(out)))
		}
	}
	uid, err = strconv.Atoi(u.Uid)
	if err != nil {
		return 0, 0, fmt.Errorf("user %s: uid %q: %w", MailUser, u.Uid, err)
	}
	gid, err = strconv.Atoi(u.Gid)
	if err != nil {
		return 0, 0, fmt.Errorf("user %s: gid %q: %w", MailUser, u.Gid, err)
	}
	if uid == 0 {
		return 0, 0, fmt.Errorf("user %s has uid 0", MailUser)
	}
	return uid, gid, nil
}

// prepare writes everything Dovecot needs before its first start.
func (s *Server) prepare() error {
	for _, sub := range []string{"etc/passwd.d", "ssl", "log", "state", "mail"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, sub), 0o755); err != nil {
			return err
		}
	}
	certFile, pool, err := srvproc.WriteCert(filepath.Join(s.Dir, "ssl"))
	if err != nil {
		return err
	}
	s.CertFile, s.certPool = certFile, pool
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range s.Users {
		if err := s.addUserLocked(name, s.Password); err != nil {
			return err
		}
	}
	return nil
}

// NewUser adds a fresh account, named after the test, with its own random
// password, and returns its credentials; it can log in at once.
func (s *Server) NewUser(tb testing.TB) (name, password string) {
	tb.Helper()
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("dovecot: new user: %v", err)
	}
	password = hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextUser++
	name = fmt.Sprintf("%s-%d", userSlug(tb.Name()), s.nextUser)
	if err := s.addUserLocked(name, password); err != nil {
		tb.Fatalf("dovecot: new user %s: %v", name, err)
	}
	return name, password
}

// userSlug turns a test name into the start of a user name: lower case
// letters, digits and '-', no '@' (username_format=%n would cut there).
func userSlug(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= 40 {
			break
		}
	}
	slug := strings.Trim(b.String(), "-")
	if slug == "" {
		slug = "user"
	}
	return slug
}

// addUserLocked gives the user a home and a passwd-file of its own,
// etc/passwd.d/NAME. One file per user, because Dovecot re-reads a changed
// passwd-file at most once a second: a user appended to a shared file
// could stay unknown for up to a second, while a new file is read on the
// first lookup of its name.
func (s *Server) addUserLocked(name, password string) error {
	if name == "" || strings.ContainsAny(name, ":@/\\%\r\n\t ") || strings.HasPrefix(name, ".") {
		return fmt.Errorf("user name %q: not allowed here", name)
	}
	if strings.ContainsAny(password, ":\r\n") {
		return fmt.Errorf("password %q: no ':' or line breaks allowed in a passwd-file", password)
	}
	if _, dup := s.passwords[name]; dup {
		return fmt.Errorf("user %s exists", name)
	}
	home := s.home(name)
	if err := os.MkdirAll(filepath.Join(home, "Maildir"), 0o700); err != nil {
		return err
	}
	for _, p := range []string{home, filepath.Join(home, "Maildir")} {
		if err := os.Chown(p, s.mailUID, s.mailGID); err != nil {
			return err
		}
	}
	// user:password:uid:gid:(gecos):home:(shell):(extra fields)
	line := fmt.Sprintf("%s:{PLAIN}%s:%d:%d::%s::\n", name, password, s.mailUID, s.mailGID, home)
	path := filepath.Join(s.Dir, "etc", "passwd.d", name)
	tmp := filepath.Join(s.Dir, "etc", "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(line), 0o644); err != nil {
		return err
	}
	// Renamed into place: Dovecot never reads half a file.
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	s.passwords[name] = password
	return nil
}

func (s *Server) home(name string) string { return filepath.Join(s.Dir, "mail", name) }
