package config

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"
)

// maxSecretOutput bounds what a password or token command may print;
// OAuth2 access tokens are a few kilobytes at most.
const maxSecretOutput = 1 << 20

// SecretSource returns the key the account's secret comes from:
// "token_command", "password", "password_env", "password_file",
// "password_command", or "" if none is set.
func (a *Account) SecretSource() string {
	switch {
	case a.TokenCommand != "" && a.UsesOAuth():
		return "token_command"
	case a.Password != "":
		return "password"
	case a.PasswordEnv != "":
		return "password_env"
	case a.PasswordFile != "":
		return "password_file"
	case a.PasswordCommand != "":
		return "password_command"
	}
	return ""
}

// Secret returns what the account logs in with: the OAuth2 token printed
// by token_command when auth is xoauth2 or oauthbearer, otherwise the
// password (or token) from its one configured source. Commands run with
// `sh -c` in the config file's directory; one trailing newline is removed
// from command output and from password files.
//
// Errors name the account and the source, and never contain the secret
// or a command's standard output; for a failed command they give the
// first line of its standard error:
//
//	accounts.work: password_command: exit status 1: gpg: decryption failed
//
// Call Secret each time a login needs it rather than keeping the value:
// tokens expire and commands may rotate passwords.
func (a *Account) Secret(ctx context.Context) (string, error) {
	source := a.SecretSource()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("accounts.%s: %s: %s", a.Name, source, fmt.Sprintf(format, args...))
	}
	switch source {
	case "password":
		return a.Password, nil
	case "password_env":
		v, ok := os.LookupEnv(a.PasswordEnv)
		if !ok {
			return "", fail("environment variable %s is not set", a.PasswordEnv)
		}
		if v == "" {
			return "", fail("environment variable %s is empty", a.PasswordEnv)
		}
		return v, nil
	case "password_file":
		data, err := os.ReadFile(a.PasswordFile)
		if err != nil {
			// The *PathError names the file and the reason, never its contents.
			return "", fmt.Errorf("accounts.%s: password_file: %w", a.Name, err)
		}
		v := trimNewline(string(data))
		if v == "" {
			return "", fail("%s is empty", a.PasswordFile)
		}
		return v, nil
	case "password_command":
		return a.runSecretCommand(ctx, source, a.PasswordCommand)
	case "token_command":
		return a.runSecretCommand(ctx, source, a.TokenCommand)
	}
	return "", fmt.Errorf("accounts.%s: no password_command, password_env, password_file, password or token_command", a.Name)
}

func (a *Account) runSecretCommand(ctx context.Context, source, command string) (string, error) {
	var stdout, stderr cappedBuffer
	stdout.max, stderr.max = maxSecretOutput, 64<<10
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = a.dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A helper that leaves a child holding the pipes open must not hang
	// the login forever once the helper itself has exited.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return "", fmt.Errorf("accounts.%s: %s: %w", a.Name, source, ctx.Err())
	}
	if err != nil {
		// err is an *exec.ExitError ("exit status 1") or a failure to
		// start sh; neither holds any output, so it is safe to wrap.
		detail := ""
		if line := firstLine(stderr.String()); line != "" {
			detail = ": " + line
		}
		return "", fmt.Errorf("accounts.%s: %s: %w%s", a.Name, source, err, detail)
	}
	if stdout.overflow {
		return "", fmt.Errorf("accounts.%s: %s: printed more than %d bytes", a.Name, source, maxSecretOutput)
	}
	v := trimNewline(stdout.String())
	if v == "" {
		return "", fmt.Errorf("accounts.%s: %s: printed nothing on standard output", a.Name, source)
	}
	return v, nil
}

// passwordFileWarnings warns about every password_file that users other
// than its owner can read, as Load does for an inline password in a
// readable config. A file that does not exist (yet) is left to Secret.
func passwordFileWarnings(c *Config) []Warning {
	var ws []Warning
	for _, name := range c.AccountNames() {
		a := c.Accounts[name]
		if a.PasswordFile == "" {
			continue
		}
		fi, err := os.Stat(a.PasswordFile)
		if err != nil || fi.Mode().Perm()&0o044 == 0 {
			continue
		}
		p := Problem{File: c.Path, Line: a.passwordFileLine, Path: "accounts." + name + ".password_file",
			Msg: fmt.Sprintf("password in a file other users can read (%s, mode %04o): chmod 600 the file, or use password_command",
				a.PasswordFile, fi.Mode().Perm())}
		ws = append(ws, Warning(p.Error()))
	}
	return ws
}

// trimNewline removes one trailing "\n" or "\r\n".
func trimNewline(s string) string {
	if strings.HasSuffix(s, "\r\n") {
		return s[:len(s)-2]
	}
	return strings.TrimSuffix(s, "\n")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	line = strings.TrimSpace(line)
	if r := []rune(line); len(r) > 200 {
		line = string(r[:200]) + "..."
	}
	return line
}

// cappedBuffer keeps at most max bytes and notes whether more came. It
// does not embed bytes.Buffer: its ReadFrom would let io.Copy bypass the cap.
type cappedBuffer struct {
	buf      bytes.Buffer
	max      int
	overflow bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room < len(p) {
		b.overflow = true
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *cappedBuffer) String() string { return b.buf.String() }

// The methods below have value receivers so that fmt and slog redact an
// Account whether they are given the value or a pointer.

// String describes the account without any secret:
// `imap account "work" (me@example.com at imap.example.com:993, password_command)`.
func (a Account) String() string {
	addr := "no server"
	if s := a.Server(); s != nil {
		addr = s.Addr()
	}
	src := a.SecretSource()
	if src == "" {
		src = "no secret"
	}
	return fmt.Sprintf("%s account %q (%s at %s, %s)", a.Protocol(), a.Name, a.Username, addr, src)
}

// GoString is %#v with the inline password replaced by "[redacted]".
func (a Account) GoString() string {
	type fields Account // same fields, none of the methods
	f := fields(a)
	if f.Password != "" {
		f.Password = "[redacted]"
	}
	return strings.Replace(fmt.Sprintf("%#v", f), "config.fields{", "config.Account{", 1)
}

// LogValue gives slog the account's identity and which secret source it
// uses, never the secret or the commands.
func (a Account) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("name", a.Name),
		slog.String("protocol", a.Protocol()),
	}
	if s := a.Server(); s != nil {
		attrs = append(attrs, slog.String("server", s.Addr()), slog.String("security", s.Security))
	}
	attrs = append(attrs,
		slog.String("username", a.Username),
		slog.String("auth", a.Auth),
		slog.String("secret", a.SecretSource()),
	)
	return slog.GroupValue(attrs...)
}
