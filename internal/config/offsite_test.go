package config

import (
	"strings"
	"testing"
)

func TestOffsiteAndEncryptionKeys(t *testing.T) {
	base := "archive: /tmp/a\naccounts:\n  w: {imap: {host: h}, username: u, password_env: X}\n"
	const rcpt = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	good := base + `offsite:
  s3: {endpoint: "http://127.0.0.1:9000", bucket: b, prefix: /x/shard-1/, path_style: true, access_key_env: K, secret_key_env: S}
encryption: {recipients: [` + rcpt + `], identity_file: keys/id.txt}
jobs:
  n: {backup: [w], push: true}
`
	c, _, err := Parse([]byte(good), "/etc/mk/c.yaml")
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	s := c.Offsite.S3
	if s.Endpoint != "http://127.0.0.1:9000" || s.Bucket != "b" || s.Prefix != "x/shard-1" || s.Region != "us-east-1" || !s.PathStyle ||
		s.AccessKeyEnv != "K" || s.SecretKeyEnv != "S" {
		t.Errorf("Parse() offsite.s3 = %+v", s)
	}
	if host, secure, err := s.EndpointHost(); host != "127.0.0.1:9000" || secure || err != nil {
		t.Errorf("EndpointHost() = %q, %v, %v", host, secure, err)
	}
	e := c.Encryption
	if !e.Enabled() || len(e.Recipients) != 1 || e.IdentityFile != "/etc/mk/keys/id.txt" {
		t.Errorf("Parse() encryption = %+v", e)
	}
	if !c.Jobs["n"].Push {
		t.Errorf("Parse() jobs.n.push = false")
	}

	_, warnings, err := Parse([]byte(base+"offsite:\n  s3: {endpoint: \"http://s3.example.net\", bucket: b}\n"), "c.yaml")
	if err != nil || len(warnings) != 1 || !strings.Contains(string(warnings[0]), "use https://") {
		t.Errorf("Parse(http endpoint elsewhere) = %v, %v; want one warning", warnings, err)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown s3 key", "offsite:\n  s3: {endpoint: h, bucket: b, acl: private}\n", "offsite.s3.acl: unknown key"},
		{"no bucket", "offsite:\n  s3: {endpoint: h}\n", "offsite.s3.bucket: required"},
		{"bad endpoint", "offsite:\n  s3: {endpoint: \"ftp://h\", bucket: b}\n", `offsite.s3.endpoint: want https://host[:port]`},
		{"endpoint with path", "offsite:\n  s3: {endpoint: \"https://h/b\", bucket: b}\n", `offsite.s3.endpoint: want`},
		{"half credentials", "offsite:\n  s3: {endpoint: h, bucket: b, access_key_env: K}\n", "access_key_env and secret_key_env go together"},
		{"no s3", "offsite: {}\n", "offsite: want s3"},
		{"wrong type", "offsite:\n  s3: {endpoint: h, bucket: b, path_style: maybe}\n", "offsite.s3.path_style"},
		{"bad recipient", "encryption: {recipients: [age1nope]}\n", "encryption.recipients: item 1 is not an age recipient"},
		{"empty encryption", "encryption: {}\n", "encryption: want recipients or recipient_file"},
		{"unknown encryption key", "encryption: {recipients: [" + rcpt + "], passphrase: x}\n", "encryption.passphrase: unknown key"},
		{"push without offsite", "jobs:\n  n: {backup: [w], push: true}\n", "jobs.n.push: needs offsite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(base+tc.yaml), "c.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse() error = %v, want %q", err, tc.want)
			}
		})
	}
}
