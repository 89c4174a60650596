package dovecot

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/srvproc"
)

// RequireEnv names the environment variable that turns "Dovecot is not
// available" from a skipped test into a failed one (CI sets it to 1).
const RequireEnv = "MAILKEEP_REQUIRE_DOVECOT"

const notInstalled = "dovecot not installed (apt-get install dovecot-imapd dovecot-pop3d); " +
	"set " + RequireEnv + "=1 to make this a failure"

// NamespaceStyle is the layout of the personal namespace.
type NamespaceStyle int

const (
	// NamespacePlain has no prefix and "/" as separator: INBOX, Sent,
	// Archive/2019 (Dovecot's and most providers' default).
	NamespacePlain NamespaceStyle = iota
	// NamespaceCourier puts every folder under "INBOX." with "." as
	// separator: INBOX, INBOX.Sent, INBOX.Archive.2019 (Courier, old cPanel).
	NamespaceCourier
)

// Options configures a private instance. The zero value (or nil) means
// the defaults documented on each field.
type Options struct {
	// Users are created at start; default alice, bob, carol, dave.
	Users []string
	// Password of every user in Users; default "secret".
	Password string
	// POP3UIDLFormat is Dovecot's pop3_uidl_format; default "%08Xu%08Xv".
	POP3UIDLFormat string
	// MailFsync is Dovecot's mail_fsync (optimized, always, never);
	// default "never", for speed.
	MailFsync string
	// Namespace selects the folder layout; default NamespacePlain.
	Namespace NamespaceStyle
	// NoSpecialFolders leaves Drafts, Sent, Trash, Junk and Archive
	// uncreated. They still get their special-use attribute when a client
	// creates them. By default they exist and are subscribed.
	NoSpecialFolders bool
	// Binary is the dovecot executable; default: "dovecot" from PATH,
	// else /usr/sbin/dovecot.
	Binary string
	// ExtraConfig is appended verbatim to the generated dovecot.conf.
	ExtraConfig string
}

// Server is a running private Dovecot.
type Server struct {
	// Addresses, each "127.0.0.1:PORT": plain IMAP (STARTTLS offered),
	// IMAP over TLS, plain POP3 (STLS offered), POP3 over TLS.
	IMAPAddr, IMAPSAddr, POP3Addr, POP3SAddr string
	// Users are the accounts created at start, all with Password.
	Users    []string
	Password string
	// Dir holds everything: etc/dovecot.conf, etc/passwd.d/USER (one
	// passwd-file per user), mail/USER/Maildir, ssl/, run/ (base_dir),
	// log/dovecot.log.
	Dir string
	// CertFile is the PEM certificate the server presents (SANs localhost
	// and 127.0.0.1), for tools outside Go.
	CertFile string
	// Prefix and Delimiter describe the personal namespace: "" and '/' by
	// default, "INBOX." and '.' with NamespaceCourier.
	Prefix    string
	Delimiter rune

	opts     Options
	binary   string
	doveadm  string
	conf     string
	mailUID  int
	mailGID  int
	certPool *x509.CertPool

	pid      int
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once

	mu        sync.Mutex
	passwords map[string]string // every user, by name
	nextUser  int
}

// Start runs a private Dovecot for the calling test and stops it (and
// removes its files) when the test ends. A nil opts means defaults.
// It skips the test when Dovecot cannot run here, or fails it when
// MAILKEEP_REQUIRE_DOVECOT=1.
func Start(tb testing.TB, opts *Options) *Server {
	tb.Helper()
	s, err := start(opts)
	if err != nil {
		srvproc.Unavailable(tb, RequireEnv, err)
		return nil
	}
	tb.Cleanup(s.cleanup)
	return s
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Shared returns the test binary's shared Dovecot (default Options),
// starting it on first use. It runs until the test binary exits (or
// StopShared). Tests sharing it must not interfere: each takes its own
// account from NewUser.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.once.Do(func() { shared.srv, shared.err = start(nil) })
	if shared.err != nil {
		srvproc.Unavailable(tb, RequireEnv, shared.err)
		return nil
	}
	return shared.srv
}

// StopShared stops the shared instance, if one was started, and removes
// its files. Calling it from TestMain after m.Run is optional: the master
// also stops when the test process dies, and stale directories of dead
// test processes are removed by the next Start.
func StopShared() {
	if shared.srv != nil {
		shared.srv.cleanup()
	}
}

// startError explains why Dovecot could not run, with the log's last lines.
func startError(reason, log string) error {
	return &srvproc.StartError{Server: "dovecot", LogTitle: "dovecot log", RequireEnv: RequireEnv, Reason: reason, Log: log}
}

const dirPrefix = "mailkeep-dovecot-"

// geteuid is replaced by tests of the not-root path.
var geteuid = os.Geteuid

func start(o *Options) (*Server, error) {
	opts := withDefaults(o)
	bin, err := findDovecot(opts.Binary)
	if err != nil {
		return nil, err
	}
	if uid := geteuid(); uid != 0 {
		return nil, startError(fmt.Sprintf("not running as root (uid %d): "+
			"Dovecot's master must switch to its service users", uid), "")
	}
	doveadm, err := findDoveadm(bin)
	if err != nil {
		return nil, startError(err.Error(), "")
	}
	uid, gid, err := ensureMailUser()
	if err != nil {
		return nil, startError(err.Error(), "")
	}
	// Instances whose test binary was killed before its cleanup ran.
	srvproc.ReapStale(dirPrefix, filepath.Join("etc", "dovecot.conf"))
	dir, err := srvproc.MakeDir(dirPrefix)
	if err != nil {
		return nil, startError(err.Error(), "")
	}
	s := &Server{
		Users:     append([]string(nil), opts.Users...),
		Password:  opts.Password,
		Dir:       dir,
		Prefix:    "",
		Delimiter: '/',
		opts:      opts,
		binary:    bin,
		doveadm:   doveadm,
		conf:      filepath.Join(dir, "etc", "dovecot.conf"),
		mailUID:   uid,
		mailGID:   gid,
		passwords: map[string]string{},
	}
	if opts.Namespace == NamespaceCourier {
		s.Prefix, s.Delimiter = "INBOX.", '.'
	}
	if log, err := srvproc.Launch(dir, s.prepare, s.launch, s.kill, s.Log); err != nil {
		return nil, startError(err.Error(), log)
	}
	return s, nil
}

func withDefaults(o *Options) Options {
	var opts Options
	if o != nil {
		opts = *o
	}
	if len(opts.Users) == 0 {
		opts.Users = []string{"alice", "bob", "carol", "dave"}
	}
	if opts.Password == "" {
		opts.Password = "secret"
	}
	if opts.POP3UIDLFormat == "" {
		opts.POP3UIDLFormat = "%08Xu%08Xv"
	}
	if opts.MailFsync == "" {
		opts.MailFsync = "never"
	}
	return opts
}

func findDovecot(bin string) (string, error) {
	if bin != "" {
		if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", errors.New(notInstalled)
		}
		return bin, nil
	}
	if p, err := exec.LookPath("dovecot"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/dovecot", "/usr/local/sbin/dovecot"} {
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New(notInstalled)
}

func findDoveadm(dovecotBin string) (string, error) {
	candidates := []string{
		filepath.Join(filepath.Dir(dovecotBin), "doveadm"),
		filepath.Join(filepath.Dir(dovecotBin), "..", "bin", "doveadm"),
	}
	if p, err := exec.LookPath("doveadm"); err == nil {
		candidates = append([]string{p}, candidates...)
	}
	candidates = append(candidates, "/usr/bin/doveadm", "/usr/local/bin/doveadm")
	for _, p := range candidates {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("doveadm not found next to " + dovecotBin + " nor in PATH")
}

// CertPool holds the server's self-signed certificate, for
// tls.Config.RootCAs. It verifies for "localhost" and "127.0.0.1".
func (s *Server) CertPool() *x509.CertPool { return s.certPool }

// Doveadm runs "doveadm -c CONF args..." and returns its standard output.
// The error includes standard error.
func (s *Server) Doveadm(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.doveadm, append([]string{"-c", s.conf}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("doveadm %s: %w: %s",
			strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}
