package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const secretValue = "hunter2-s3cr3t"

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("MK_TEST_SET", secretValue)
	t.Setenv("MK_TEST_EMPTY", "")
	os.Unsetenv("MK_TEST_UNSET")

	tests := []struct {
		name    string
		account Account
		want    string
		wantErr string // exact error text when set
	}{
		{"inline", Account{Password: secretValue}, secretValue, ""},
		{"env", Account{PasswordEnv: "MK_TEST_SET"}, secretValue, ""},
		{"env unset", Account{PasswordEnv: "MK_TEST_UNSET"}, "", "accounts.work: password_env: environment variable MK_TEST_UNSET is not set"},
		{"env empty", Account{PasswordEnv: "MK_TEST_EMPTY"}, "", "accounts.work: password_env: environment variable MK_TEST_EMPTY is empty"},
		{"file with trailing newline", Account{PasswordFile: write("nl", secretValue+"\n")}, secretValue, ""},
		{"file with CRLF", Account{PasswordFile: write("crlf", secretValue+"\r\n")}, secretValue, ""},
		{"file without newline", Account{PasswordFile: write("plain", secretValue)}, secretValue, ""},
		{"file keeps all but one newline", Account{PasswordFile: write("two", secretValue+"\n\n")}, secretValue + "\n", ""},
		{"file keeps spaces", Account{PasswordFile: write("sp", " "+secretValue+" \n")}, " " + secretValue + " ", ""},
		{"file missing", Account{PasswordFile: filepath.Join(dir, "missing")}, "",
			"accounts.work: password_file: open " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{"file empty", Account{PasswordFile: write("empty", "\n")}, "", "accounts.work: password_file: " + filepath.Join(dir, "empty") + " is empty"},
		{"command", Account{PasswordCommand: "printf '%s\\n' " + secretValue}, secretValue, ""},
		{"command runs in the config directory", Account{PasswordCommand: "cat ./plain", dir: dir}, secretValue, ""},
		{"command failing", Account{PasswordCommand: "echo 'gpg: decryption failed' >&2; echo more >&2; exit 1"}, "",
			"accounts.work: password_command: exit status 1: gpg: decryption failed"},
		{"command failing silently", Account{PasswordCommand: "exit 3"}, "", "accounts.work: password_command: exit status 3"},
		{"command printing the secret then failing", Account{PasswordCommand: "echo " + secretValue + "; exit 2"}, "",
			"accounts.work: password_command: exit status 2"},
		{"command printing nothing", Account{PasswordCommand: "true"}, "", "accounts.work: password_command: printed nothing on standard output"},
		{"command not found", Account{PasswordCommand: "mk-no-such-command-xyz"}, "", ""},
		{"token command", Account{Auth: "xoauth2", TokenCommand: "echo tok-" + secretValue}, "tok-" + secretValue, ""},
		{"token command preferred for oauth", Account{Auth: "oauthbearer", TokenCommand: "echo tok", Password: "pw"}, "tok", ""},
		{"token command ignored without oauth", Account{TokenCommand: "echo tok", Password: "pw"}, "pw", ""},
		{"token command failing", Account{Auth: "xoauth2", TokenCommand: "echo 'token expired' >&2; false"}, "",
			"accounts.work: token_command: exit status 1: token expired"},
		{"no source", Account{}, "", "accounts.work: no password_command, password_env, password_file, password or token_command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.account
			a.Name = "work"
			got, err := a.Secret(context.Background())
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("Secret() = %q, %v; want %q, nil", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Secret() = %q, nil; want an error", got)
			}
			if got != "" {
				t.Errorf("Secret() = %q with an error, want \"\"", got)
			}
			if tt.wantErr != "" && err.Error() != tt.wantErr {
				t.Errorf("Secret() error = %q, want %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "accounts.work: ") {
				t.Errorf("Secret() error = %q, want it to name the account", err)
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Errorf("Secret() error = %q contains the secret", err)
			}
		})
	}
}

func TestSecretErrorsAreInspectable(t *testing.T) {
	a := &Account{Name: "work", PasswordFile: filepath.Join(t.TempDir(), "missing")}
	if _, err := a.Secret(context.Background()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Secret() error = %v, want one matching fs.ErrNotExist", err)
	}
	a = &Account{Name: "work", PasswordCommand: "exit 7"}
	_, err := a.Secret(context.Background())
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 {
		t.Errorf("Secret() error = %v, want an *exec.ExitError with code 7", err)
	}
}

func TestSecretCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := &Account{Name: "work", PasswordCommand: "sleep 10; echo pw"}
	_, err := a.Secret(ctx)
	if !errors.Is(err, context.Canceled) || err.Error() != "accounts.work: password_command: context canceled" {
		t.Errorf("Secret() error = %v, want context canceled naming the account", err)
	}
}

func TestSecretOutputTooLong(t *testing.T) {
	a := &Account{Name: "work", PasswordCommand: fmt.Sprintf("head -c %d /dev/zero | tr '\\0' x", maxSecretOutput+10)}
	_, err := a.Secret(context.Background())
	if err == nil || err.Error() != fmt.Sprintf("accounts.work: password_command: printed more than %d bytes", maxSecretOutput) {
		t.Errorf("Secret() error = %v", err)
	}
}

// TestSecretsNeverPrinted checks every way an Account reaches text.
func TestSecretsNeverPrinted(t *testing.T) {
	c, _ := mustParse(t, head+"    imap: {host: imap.example.com}\n    username: me\n    password: "+secretValue+"\n", "config.yaml")
	a := c.Accounts["work"]
	var logged bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logged, nil))
	logger.Info("login", "account", a)
	logger.Info("login", "account", *a)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("login", "account", a)

	outputs := map[string]string{
		"String":        a.String(),
		"%v pointer":    fmt.Sprintf("%v", a),
		"%v value":      fmt.Sprintf("%v", *a),
		"%+v":           fmt.Sprintf("%+v", a),
		"%#v pointer":   fmt.Sprintf("%#v", a),
		"%#v value":     fmt.Sprintf("%#v", *a),
		"%s":            fmt.Sprintf("%s", a),
		"config %+v":    fmt.Sprintf("%+v", c),
		"accounts %#v":  fmt.Sprintf("%#v", c.Accounts),
		"slog":          logged.String(),
		"in a struct":   fmt.Sprintf("%+v", struct{ A *Account }{a}),
		"in a slice %v": fmt.Sprint([]*Account{a}),
	}
	for name, out := range outputs {
		if strings.Contains(out, secretValue) {
			t.Errorf("%s output contains the password: %s", name, out)
		}
	}
	if want := `imap account "work" (me at imap.example.com:993, password)`; a.String() != want {
		t.Errorf("String() = %q, want %q", a.String(), want)
	}
	if !strings.Contains(outputs["%#v value"], `Password:"[redacted]"`) || !strings.HasPrefix(outputs["%#v value"], "config.Account{") {
		t.Errorf("GoString() = %s, want config.Account{... Password:\"[redacted]\" ...}", outputs["%#v value"])
	}
	if !strings.Contains(logged.String(), `"account":{"name":"work","protocol":"imap","server":"imap.example.com:993","security":"tls","username":"me","auth":"","secret":"password"}`) {
		t.Errorf("slog JSON = %s", logged.String())
	}
}

// TestParseErrorsNeverContainSecrets feeds secrets into every kind of
// mistake near a secret key.
func TestParseErrorsNeverContainSecrets(t *testing.T) {
	srcs := []string{
		head + "    imap: {host: h}\n    username: me\n    password: " + secretValue + "\n    password_command: x\n",
		head + "    imap: {host: h}\n    username: me\n    password: [" + secretValue + "]\n",
		head + "    imap: {host: h}\n    username: me\n    password: {" + secretValue + ": 1}\n",
		head + "    imap: {host: h}\n    username: me\n    passwd: " + secretValue + "\n",
		head + "    imap: {host: h}\n    username: me\n    password: !secret " + secretValue + "\n",
		head + "    imap: {host: h}\n    username: me\n    password: " + secretValue + "\n    password: " + secretValue + "\n",
		head + "    imap: {host: h}\n    username: me\n    password: " + secretValue + "\n  bad:\n    - " + secretValue + "\n",
		head + "    imap: {host: h}\n    username: me\n    password: 12345678\n    delete: true\n",
	}
	for i, src := range srcs {
		_, _, err := Parse([]byte(src), "config.yaml")
		if err == nil {
			t.Errorf("case %d: Parse() error = nil, want one", i)
			continue
		}
		for _, s := range []string{secretValue, "12345678"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("case %d: Parse() error contains the password:\n%v", i, err)
			}
		}
	}
}

// TestPasswordFilePermissionWarning: a password_file other users can read
// gets the warning an inline password in a readable config gets.
func TestPasswordFilePermissionWarning(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode os.FileMode
		warn bool
	}{
		{"world-readable", 0o644, true},
		{"group-readable", 0o640, true},
		{"private", 0o600, false},
		{"owner read-only", 0o400, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			secret := filepath.Join(dir, "pw")
			if err := os.WriteFile(secret, []byte("hunter2\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(secret, tt.mode); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(dir, "config.yaml")
			src := "archive: /tmp/a\naccounts:\n  work:\n    imap: {host: h}\n    username: me\n    password_file: pw\n"
			if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			_, ws, err := Load(cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := []Warning(nil)
			if tt.warn {
				want = []Warning{Warning(fmt.Sprintf("%s:6: accounts.work.password_file: password in a file other users can read (%s, mode %04o): chmod 600 the file, or use password_command", cfg, secret, tt.mode))}
			}
			if !reflect.DeepEqual(ws, want) {
				t.Errorf("Load() warnings = %q, want %q", ws, want)
			}
			for _, w := range ws {
				if strings.Contains(string(w), "hunter2") {
					t.Errorf("warning holds the secret: %q", w)
				}
			}
		})
	}
}
