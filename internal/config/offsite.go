package config

import (
	"net"
	"net/url"
	"strings"

	"filippo.io/age"
	"gopkg.in/yaml.v3"
)

// Offsite is where `mailkeep push` keeps a copy of the archive (key offsite).
type Offsite struct {
	S3 *S3 // key s3; the only kind so far
}

// S3 is a bucket on an S3-compatible service.
//
// Credentials: AccessKeyEnv and SecretKeyEnv name environment variables;
// when they are not set, the usual AWS sources are tried
// (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, the
// instance's IAM role).
type S3 struct {
	Endpoint     string // key endpoint: https://host[:port] (or http:// for a local server); a bare host means https
	Bucket       string // key bucket
	Prefix       string // key prefix: everything goes under it, e.g. "mailkeep/shard-0"; "" = the bucket's top
	Region       string // key region, default us-east-1
	PathStyle    bool   // key path_style: https://host/bucket/key instead of https://bucket.host/key
	AccessKeyEnv string // key access_key_env: environment variable holding the access key id
	SecretKeyEnv string // key secret_key_env: environment variable holding the secret key

	Line int // YAML line of the s3 key
}

// Encryption says how new data is encrypted with age (key encryption).
type Encryption struct {
	Recipients    []string // key recipients: age1... public keys
	RecipientFile string   // key recipient_file: file of recipients, one a line, # comments
	IdentityFile  string   // key identity_file: the secret key(s) that read the data; needed by export, restore, serve, show, pull

	Line int
}

// Enabled reports whether new data is to be encrypted.
func (e *Encryption) Enabled() bool {
	return e != nil && (len(e.Recipients) > 0 || e.RecipientFile != "")
}

func (d *decoder) offsite(n *yaml.Node, path string) *Offsite {
	o := &Offsite{}
	d.mapping(n, path, map[string]fieldFunc{
		"s3": func(v *yaml.Node, p string) {
			s := &S3{Line: d.line(p)}
			o.S3 = s
			str := func(dst *string) fieldFunc {
				return func(v *yaml.Node, p string) { *dst = d.str(v, p, false) }
			}
			d.mapping(v, p, map[string]fieldFunc{
				"endpoint":       str(&s.Endpoint),
				"bucket":         str(&s.Bucket),
				"prefix":         str(&s.Prefix),
				"region":         str(&s.Region),
				"path_style":     func(v *yaml.Node, p string) { s.PathStyle = d.boolean(v, p) },
				"access_key_env": str(&s.AccessKeyEnv),
				"secret_key_env": str(&s.SecretKeyEnv),
			})
		},
	})
	return o
}

func (d *decoder) encryption(n *yaml.Node, path string) *Encryption {
	e := &Encryption{Line: d.line(path)}
	d.mapping(n, path, map[string]fieldFunc{
		"recipients": func(v *yaml.Node, p string) {
			if e.Recipients = d.strings(v, p); e.Recipients == nil {
				e.Recipients = []string{}
			}
		},
		"recipient_file": func(v *yaml.Node, p string) { e.RecipientFile = d.str(v, p, false) },
		"identity_file":  func(v *yaml.Node, p string) { e.IdentityFile = d.str(v, p, false) },
	})
	return e
}

// offsiteRules checks offsite and encryption and expands their paths.
func (d *decoder) offsiteRules(c *Config, dir string) {
	if o := c.Offsite; o != nil {
		if o.S3 == nil {
			d.at("offsite", "want s3: {endpoint, bucket, ...}")
		} else {
			d.s3Rules(o.S3, "offsite.s3")
		}
	}
	for _, name := range c.JobNames() {
		if c.Jobs[name].Push && c.Offsite == nil {
			d.at("jobs."+name+".push", "needs offsite: {s3: {...}} at the top level")
		}
	}
	if e := c.Encryption; e != nil {
		p := "encryption"
		for i, r := range e.Recipients {
			if _, err := age.ParseX25519Recipient(r); err != nil {
				d.at(p+".recipients", "item %d is not an age recipient (age1...): %v", i+1, err)
			}
		}
		if e.RecipientFile != "" {
			e.RecipientFile = d.expandPath(p+".recipient_file", e.RecipientFile, dir)
		}
		if e.IdentityFile != "" {
			e.IdentityFile = d.expandPath(p+".identity_file", e.IdentityFile, dir)
		}
		if !e.Enabled() && e.IdentityFile == "" {
			d.at(p, "want recipients or recipient_file (to encrypt) and identity_file (to read); 'mailkeep keygen' makes a key")
		}
	}
}

func (d *decoder) s3Rules(s *S3, p string) {
	if s.Endpoint == "" {
		d.at(p+".endpoint", "required: the S3 service, e.g. https://s3.eu-central-1.amazonaws.com")
	} else if host, secure, err := s.EndpointHost(); err != nil {
		d.at(p+".endpoint", "%v", err)
	} else if h, _, _ := net.SplitHostPort(host); !secure && !isLoopback(h) && !isLoopback(host) {
		d.warn(d.line(p+".endpoint"), p+".endpoint", "http:// to another machine: the copy and the index travel unprotected unless encryption is on; use https://")
	}
	if s.Bucket == "" {
		d.at(p+".bucket", "required: the bucket to write into")
	}
	if s.Region == "" {
		s.Region = "us-east-1"
	}
	s.Prefix = strings.Trim(s.Prefix, "/")
	if strings.Contains(s.Prefix, "//") || strings.Contains("/"+s.Prefix+"/", "/../") {
		d.at(p+".prefix", "must be a plain path like mailkeep/shard-0, got %q", s.Prefix)
	}
	if (s.AccessKeyEnv == "") != (s.SecretKeyEnv == "") {
		d.at(p, "access_key_env and secret_key_env go together (or leave both out for the AWS defaults)")
	}
}

// EndpointHost splits Endpoint into host[:port] and whether to use TLS.
func (s *S3) EndpointHost() (host string, secure bool, err error) {
	e := s.Endpoint
	if !strings.Contains(e, "://") {
		e = "https://" + e
	}
	u, err := url.Parse(e)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", false, &endpointError{s.Endpoint}
	}
	switch u.Scheme {
	case "https":
		return u.Host, true, nil
	case "http":
		return u.Host, false, nil
	}
	return "", false, &endpointError{s.Endpoint}
}

type endpointError struct{ e string }

func (e *endpointError) Error() string {
	return "want https://host[:port] (or http:// for a server on this machine), got " + quote(e.e)
}
