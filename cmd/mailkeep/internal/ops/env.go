package ops

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/pop3"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/internal/ratelimit"
	"github.com/mailkeep/mailkeep/restore"
)

// Env is what every operation is given: the config, where progress goes,
// and the job it runs for.
type Env struct {
	Config   *config.Config
	Reporter progress.Reporter // nil: no progress
	// Trace, if set, receives protocol traces (credentials redacted),
	// each line prefixed with the protocol and account.
	Trace io.Writer
	// Job is the job this operation runs for, recorded in the run
	// history ("" when run by hand).
	Job string
}

// account looks an account up by name: a usage error names the others.
func (env *Env) account(name string) (*config.Account, error) {
	a, ok := env.Config.Accounts[name]
	if !ok {
		return nil, Usagef("no account %q in %s (accounts: %v)", name, env.Config.Path, env.Config.AccountNames())
	}
	return a, nil
}

func (env *Env) trace(proto, account string) io.Writer {
	if env.Trace == nil {
		return nil
	}
	return &prefixWriter{w: env.Trace, prefix: proto + " " + account + ": "}
}

// cachedSecret runs the account's secret source once per process: a
// password_command is not re-run on every reconnect.
func cachedSecret(a *config.Account) func(context.Context) (string, error) {
	var once sync.Once
	var s string
	var err error
	return func(ctx context.Context) (string, error) {
		once.Do(func() { s, err = a.Secret(ctx) })
		return s, err
	}
}

// IMAPDialer builds the connection factory of an IMAP account.
func (env *Env) IMAPDialer(a *config.Account) (func(context.Context) (*imapconn.Conn, error), error) {
	tc, err := a.IMAP.TLSConfig()
	if err != nil {
		return nil, &Error{Err: fmt.Errorf("accounts.%s.imap: %w", a.Name, err), Usage: true}
	}
	opts := imapconn.Options{
		Addr: a.IMAP.Addr(), Security: a.IMAP.Security, TLSConfig: tc, Timeout: a.IMAP.Timeout,
		Username: a.Username, Auth: a.Auth, Secret: cachedSecret(a), Trace: env.trace("imap", a.Name), MaxMessageSize: a.MaxMessageSize,
	}
	// One byte-rate bucket for all of the account's connections
	// (max_bytes_per_second), and at most 'connections' of them at once.
	if bucket := ratelimit.NewBucket(a.MaxBytesPerSecond); bucket != nil {
		opts.WrapConn = func(c net.Conn) net.Conn { return ratelimit.Conn(c, bucket, nil) }
	}
	slots := ratelimit.NewSlots(a.Connections)
	return func(ctx context.Context) (*imapconn.Conn, error) {
		release, err := slots.Acquire(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		o := opts
		o.Release = release
		c, err := imapconn.Dial(ctx, &o)
		if err != nil && imapLoginRefused(err) {
			return nil, loginFailed(a, err)
		}
		return c, err
	}, nil
}

// POP3Dialer builds the connection factory of a POP3 account: connected,
// secured and logged in.
func (env *Env) POP3Dialer(a *config.Account) (func(context.Context) (*pop3.Client, error), error) {
	tc, err := a.POP3.TLSConfig()
	if err != nil {
		return nil, &Error{Err: fmt.Errorf("accounts.%s.pop3: %w", a.Name, err), Usage: true}
	}
	secret := cachedSecret(a)
	opts := pop3.Options{Security: a.POP3.Security, TLSConfig: tc, Timeout: a.POP3.Timeout, Trace: env.trace("pop3", a.Name)}
	return func(ctx context.Context) (*pop3.Client, error) {
		o := opts
		c, err := pop3.Dial(ctx, a.POP3.Addr(), &o)
		if err != nil {
			return nil, err
		}
		s, err := secret(ctx)
		if err != nil {
			c.Close()
			return nil, err
		}
		if err := c.Auth(ctx, a.Username, s, a.Auth); err != nil {
			c.Close()
			if pop3LoginRefused(err) {
				return nil, loginFailed(a, err)
			}
			return nil, err
		}
		return c, nil
	}, nil
}

// target builds the target of a restore or migrate from its account.
func (env *Env) target(name string) (*restore.Target, error) {
	a, err := env.account(name)
	if err != nil {
		return nil, err
	}
	if a.Protocol() != "imap" {
		return nil, Usagef("account %s is %s; mail can only be written into an IMAP account", name, a.Protocol())
	}
	tc, err := a.IMAP.TLSConfig()
	if err != nil {
		return nil, &Error{Err: fmt.Errorf("accounts.%s.imap: %w", a.Name, err), Usage: true}
	}
	// One secret source for both kinds of connection: a password_command
	// runs once.
	login := &imapconn.Options{Addr: a.IMAP.Addr(), Security: a.IMAP.Security, TLSConfig: tc, Timeout: a.IMAP.Timeout,
		Username: a.Username, Auth: a.Auth, Secret: cachedSecret(a), Trace: env.trace("imap", a.Name), MaxMessageSize: a.MaxMessageSize}
	dial := func(ctx context.Context) (*imapconn.Conn, error) {
		o := *login
		c, err := imapconn.Dial(ctx, &o)
		if err != nil && imapLoginRefused(err) {
			return nil, loginFailed(a, err)
		}
		return c, err
	}
	t := &restore.Target{Name: name, Dial: dial, Login: login, Connections: a.Connections}
	if len(a.FolderMap) > 0 {
		t.FolderMap = a.MapFolder
	}
	return t, nil
}

// prefixWriter prefixes each write (protocol traces) with a label.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s%s", p.prefix, b)
	return len(b), nil
}
