package cyrus

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailkeep/mailkeep/internal/srvproc"
)

// RequireEnv names the environment variable that turns "Cyrus is not
// available" from a skipped test into a failed one (CI sets it to 1).
const RequireEnv = "MAILKEEP_REQUIRE_CYRUS"

// RootEnv names the environment variable holding the directory the
// Debian packages were unpacked into; DefaultRoot when unset.
const RootEnv = "MAILKEEP_CYRUS_ROOT"

// DefaultRoot is where .ci/install-cyrus unpacks Cyrus.
const DefaultRoot = "/opt/mailkeep-cyrus"

// SystemUser is the user Cyrus' master switches to (compiled in).
const SystemUser = "cyrus"

// Layout is the shape of the namespaces a Cyrus instance shows.
type Layout int

const (
	// LayoutDebian is Debian's imapd.conf: "." as separator, personal
	// folders under "INBOX." (INBOX, INBOX.Sent, INBOX.Archive.2019),
	// other users' folders under "user." (user.m4.Shared), public
	// folders at the top (Public).
	LayoutDebian Layout = iota
	// LayoutAlt is Cyrus 3's compiled-in default, unixhierarchysep and
	// altnamespace: "/" as separator, personal folders at the top (INBOX,
	// Sent, Archive/2019), "Other Users/m4/Shared", "Shared Folders/Public".
	LayoutAlt
)

func (l Layout) String() string {
	if l == LayoutAlt {
		return "altnamespace"
	}
	return "debian"
}

// Options configures a private instance; nil or the zero value means the
// defaults documented on each field.
type Options struct {
	// Layout of the namespaces; default LayoutDebian.
	Layout Layout
	// Users are created at start; default alice, bob, carol, dave.
	Users []string
	// Password of every user in Users; default "secret".
	Password string
	// Keep8BitHeaders sets munge8bit: no. By default (Cyrus' default)
	// raw 8-bit bytes in the headers of an APPENDed or delivered message
	// are stored as 'X' (see Munged).
	Keep8BitHeaders bool
	// Root is the unpacked package tree; default $MAILKEEP_CYRUS_ROOT,
	// else DefaultRoot.
	Root string
	// ExtraConfig is appended verbatim to the generated imapd.conf.
	ExtraConfig string
}

// Server is a running private Cyrus: master with imapd, pop3d and lmtpd.
type Server struct {
	// Addresses, each "127.0.0.1:PORT": plain IMAP (STARTTLS offered),
	// IMAP over TLS, plain POP3 (STLS offered).
	IMAPAddr, IMAPSAddr, POP3Addr string
	// LMTPSocket is lmtpd's unix socket (see Deliver).
	LMTPSocket string
	// Users are the accounts created at start, all with Password.
	Users    []string
	Password string
	// Admin is the Cyrus administrator (admins: in imapd.conf), with
	// AdminPassword. It can create and delete any mailbox and set ACLs.
	Admin, AdminPassword string
	// Layout, and the personal namespace it gives: Prefix "INBOX." and
	// Delimiter '.' for LayoutDebian, "" and '/' for LayoutAlt.
	Layout    Layout
	Prefix    string
	Delimiter rune
	// Dir holds everything: etc/imapd.conf, etc/cyrus.conf, etc/sasldb2,
	// config/ (configdirectory), spool/, ssl/, run/master.pid, log/.
	Dir string
	// CertFile is the PEM certificate the server presents.
	CertFile string

	opts     Options
	root     string
	conf     string
	uid, gid int
	certPool *x509.CertPool

	pid      int
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once

	mu        sync.Mutex
	passwords map[string]string // every login, the admin too
	nextUser  int
	admin     *imapclient.Client // lazily, under mu
}

// Start runs a private Cyrus for the calling test and stops it (and
// removes its files) when the test ends. It skips the test when Cyrus
// cannot run here, or fails it when MAILKEEP_REQUIRE_CYRUS=1.
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

type sharedSrv struct {
	once sync.Once
	srv  *Server
	err  error
}

var shared [2]sharedSrv

// Shared returns the test binary's shared instance of a layout (default
// Options otherwise), starting it on first use; it runs until the test
// binary exits or StopShared. Tests sharing it take their own accounts
// from NewUser.
func Shared(tb testing.TB, layout Layout) *Server {
	tb.Helper()
	sh := &shared[layout]
	sh.once.Do(func() { sh.srv, sh.err = start(&Options{Layout: layout}) })
	if sh.err != nil {
		srvproc.Unavailable(tb, RequireEnv, sh.err)
		return nil
	}
	return sh.srv
}

// StopShared stops the shared instances, if any were started. Calling it
// from TestMain after m.Run is optional: the next Start of a later test
// binary reaps what a dead one left.
func StopShared() {
	for i := range shared {
		if shared[i].srv != nil {
			shared[i].srv.cleanup()
		}
	}
}

// startError explains why Cyrus could not run, with its output's last lines.
func startError(reason, log string) error {
	return &srvproc.StartError{Server: "cyrus", LogTitle: "cyrus master output", RequireEnv: RequireEnv, Reason: reason, Log: log}
}

const dirPrefix = "mailkeep-cyrus-"

// geteuid is replaced by tests of the not-root path.
var geteuid = os.Geteuid

func notInstalled(root string) error {
	return fmt.Errorf("cyrus not unpacked in %s (run: bash .ci/install-cyrus, or set %s); "+
		"set %s=1 to make this a failure", root, RootEnv, RequireEnv)
}

// unpacked reports whether root holds Cyrus' master.
func unpacked(root string) bool {
	st, err := os.Stat(filepath.Join(root, "usr/lib/cyrus/bin/master"))
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func start(o *Options) (*Server, error) {
	opts := withDefaults(o)
	if !unpacked(opts.Root) {
		return nil, notInstalled(opts.Root)
	}
	if uid := geteuid(); uid != 0 {
		return nil, startError(fmt.Sprintf("not running as root (uid %d): "+
			"Cyrus' master must switch to the %s user", uid, SystemUser), "")
	}
	if _, err := exec.LookPath("saslpasswd2"); err != nil {
		return nil, startError("saslpasswd2 not found (apt-get install sasl2-bin, or bash .ci/install-cyrus)", "")
	}
	uid, gid, err := cyrusUser()
	if err != nil {
		return nil, startError(err.Error(), "")
	}
	// Instances whose test binary was killed before its cleanup ran (the
	// master drops to the cyrus user, which clears the parent-death
	// signal, so it may have survived).
	srvproc.ReapStale(dirPrefix, filepath.Join("etc", "cyrus.conf"))
	dir, err := srvproc.MakeDir(dirPrefix)
	if err != nil {
		return nil, startError(err.Error(), "")
	}
	s := &Server{
		Users:         append([]string(nil), opts.Users...),
		Password:      opts.Password,
		Admin:         "cyrus",
		AdminPassword: "admin-secret",
		Layout:        opts.Layout,
		Prefix:        "INBOX.",
		Delimiter:     '.',
		Dir:           dir,
		LMTPSocket:    filepath.Join(dir, "config", "socket", "lmtp"),
		opts:          opts,
		root:          opts.Root,
		conf:          filepath.Join(dir, "etc", "imapd.conf"),
		uid:           uid,
		gid:           gid,
		passwords:     map[string]string{},
	}
	if opts.Layout == LayoutAlt {
		s.Prefix, s.Delimiter = "", '/'
	}
	if log, err := srvproc.Launch(dir, s.prepare, s.launch, s.kill, s.Log); err != nil {
		return nil, startError(err.Error(), log)
	}
	for _, u := range s.Users {
		if err := s.createUser(u, s.Password); err != nil {
			s.cleanup()
			return nil, startError(err.Error(), "")
		}
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
	if opts.Root == "" {
		opts.Root = os.Getenv(RootEnv)
	}
	if opts.Root == "" {
		opts.Root = DefaultRoot
	}
	return opts
}

func cyrusUser() (uid, gid int, err error) {
	u, err := user.Lookup(SystemUser)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return 0, 0, fmt.Errorf("no system user %s (useradd --system -g mail %s, or bash .ci/install-cyrus)", SystemUser, SystemUser)
		}
		return 0, 0, fmt.Errorf("look up user %s: %w", SystemUser, err)
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, fmt.Errorf("user %s: uid %q: %w", SystemUser, u.Uid, err)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return 0, 0, fmt.Errorf("user %s: gid %q: %w", SystemUser, u.Gid, err)
	}
	if uid == 0 {
		return 0, 0, fmt.Errorf("user %s has uid 0", SystemUser)
	}
	return uid, gid, nil
}

// CertPool holds the server's self-signed certificate, for
// tls.Config.RootCAs. It verifies for "localhost" and "127.0.0.1".
func (s *Server) CertPool() *x509.CertPool { return s.certPool }

// Folder returns a personal folder's name as the server shows it, from
// its levels: Folder("Archive", "2019") is "INBOX.Archive.2019" with
// LayoutDebian, "Archive/2019" with LayoutAlt; Folder("INBOX") is INBOX.
func (s *Server) Folder(levels ...string) string {
	if len(levels) == 1 && strings.EqualFold(levels[0], "INBOX") {
		return "INBOX"
	}
	return s.Prefix + strings.Join(levels, string(s.Delimiter))
}
