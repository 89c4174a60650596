package config

import (
	"gopkg.in/yaml.v3"

	"github.com/mailkeep/mailkeep/internal/namespace"
)

// This file maps YAML keys to fields. REFERENCE.md documents every key
// named here; keep the two in step.

func (d *decoder) config(root *yaml.Node, c *Config) {
	c.Concurrency = DefaultConcurrency
	c.Accounts = map[string]*Account{}
	c.Jobs = map[string]*Job{}
	d.mapping(root, "", map[string]fieldFunc{
		"archive":     func(v *yaml.Node, p string) { c.Archive = d.str(v, p, false) },
		"concurrency": func(v *yaml.Node, p string) { c.Concurrency = d.integer(v, p) },
		"compression": func(v *yaml.Node, p string) { c.Compression = d.str(v, p, false) },
		"offsite":     func(v *yaml.Node, p string) { c.Offsite = d.offsite(v, p) },
		"encryption":  func(v *yaml.Node, p string) { c.Encryption = d.encryption(v, p) },
		"serve":       func(v *yaml.Node, p string) { c.Serve = d.serve(v, p) }, // serve.go
		"accounts": func(v *yaml.Node, p string) {
			d.named(v, p, func(name string, line int, v *yaml.Node, p string) {
				a := &Account{Name: name, Line: line}
				c.Accounts[name] = a
				d.account(v, p, a)
			})
		},
		"jobs": func(v *yaml.Node, p string) {
			d.named(v, p, func(name string, line int, v *yaml.Node, p string) {
				j := &Job{Name: name, Line: line}
				c.Jobs[name] = j
				d.job(v, p, j)
			})
		},
	})
}

func (d *decoder) account(n *yaml.Node, path string, a *Account) {
	if isNull(n) {
		return // reported by validation as a missing server and username
	}
	str := func(dst *string, secret bool) fieldFunc {
		return func(v *yaml.Node, p string) { *dst = d.str(v, p, secret) }
	}
	d.mapping(n, path, map[string]fieldFunc{
		"imap":             func(v *yaml.Node, p string) { a.IMAP = d.server(v, p) },
		"pop3":             func(v *yaml.Node, p string) { a.POP3 = d.server(v, p) },
		"username":         str(&a.Username, false),
		"auth":             str(&a.Auth, false),
		"password":         str(&a.Password, true),
		"password_env":     str(&a.PasswordEnv, false),
		"password_file":    str(&a.PasswordFile, false),
		"password_command": str(&a.PasswordCommand, false),
		"token_command":    str(&a.TokenCommand, false),
		"folders":          func(v *yaml.Node, p string) { a.Folders = d.folders(v, p) },
		"delete":           func(v *yaml.Node, p string) { a.Delete = d.boolean(v, p) },
		"backup":           func(v *yaml.Node, p string) { a.SkipBackup = !d.boolean(v, p) },
		"delete_after":     func(v *yaml.Node, p string) { a.DeleteAfter = d.age(v, p) },
		"connections":      func(v *yaml.Node, p string) { a.Connections = d.integer(v, p) },
		"folder_map": func(v *yaml.Node, p string) {
			a.FolderMap = map[string]string{}
			d.named(v, p, func(name string, _ int, v *yaml.Node, p string) {
				a.FolderMap[name] = d.str(v, p, false)
			})
		},
		"namespaces":           func(v *yaml.Node, p string) { a.Namespaces = d.namespaces(v, p) },
		"max_bytes_per_day":    func(v *yaml.Node, p string) { a.MaxBytesPerDay = d.size(v, p) },
		"max_bytes_per_second": func(v *yaml.Node, p string) { a.MaxBytesPerSecond = d.size(v, p) },
		"max_message_size":     func(v *yaml.Node, p string) { a.MaxMessageSize = d.size(v, p) },
	})
}

func (d *decoder) server(n *yaml.Node, path string) *Server {
	s := &Server{}
	if r := resolve(n); r != nil && r.Kind == yaml.ScalarNode && !isNull(r) {
		d.add(r.Line, path, "expected a mapping like {host: %s}, got %s", r.Value, describe(r, false))
		return s
	}
	d.mapping(n, path, map[string]fieldFunc{
		"host":            func(v *yaml.Node, p string) { s.Host = d.str(v, p, false) },
		"port":            func(v *yaml.Node, p string) { s.Port = d.integer(v, p) },
		"security":        func(v *yaml.Node, p string) { s.Security = d.str(v, p, false) },
		"tls_skip_verify": func(v *yaml.Node, p string) { s.TLSSkipVerify = d.boolean(v, p) },
		"ca_file":         func(v *yaml.Node, p string) { s.CAFile = d.str(v, p, false) },
		"tls_fingerprint": func(v *yaml.Node, p string) { s.Fingerprint = d.str(v, p, false) },
		"timeout":         func(v *yaml.Node, p string) { s.Timeout = d.duration(v, p) },
	})
	return s
}

// folders decodes a folder filter: a list of patterns to include, or a
// mapping {include: [...], exclude: [...]}.
func (d *decoder) folders(n *yaml.Node, path string) FolderFilter {
	var f FolderFilter
	if r := resolve(n); r != nil && r.Kind == yaml.SequenceNode {
		f.Include = d.patterns(n, path)
		return f
	}
	if r := resolve(n); r != nil && r.Kind == yaml.ScalarNode && !isNull(r) {
		d.typeErr(r, path, "a list of folder patterns or {include: [...], exclude: [...]}", false)
		return f
	}
	d.mapping(n, path, map[string]fieldFunc{
		"include": func(v *yaml.Node, p string) { f.Include = d.patterns(v, p) },
		"exclude": func(v *yaml.Node, p string) { f.Exclude = d.patterns(v, p) },
	})
	return f
}

func (d *decoder) job(n *yaml.Node, path string, j *Job) {
	if isNull(n) {
		return
	}
	d.mapping(n, path, map[string]fieldFunc{
		"schedule":   func(v *yaml.Node, p string) { j.Schedule = d.str(v, p, false) },
		"timezone":   func(v *yaml.Node, p string) { j.TimeZone = d.str(v, p, false) },
		"jitter":     func(v *yaml.Node, p string) { j.Jitter = d.duration(v, p) },
		"on_failure": func(v *yaml.Node, p string) { j.OnFailure = d.str(v, p, false) },
		"push":       func(v *yaml.Node, p string) { j.Push = d.boolean(v, p) },
		"backup": func(v *yaml.Node, p string) {
			if j.Backup = d.strings(v, p); j.Backup == nil {
				j.Backup = []string{} // a wrong type still counts as a backup job
			}
		},
		"migrate": func(v *yaml.Node, p string) {
			m := &MigrateJob{}
			j.Migrate = m
			d.mapping(v, p, map[string]fieldFunc{
				"from":    func(v *yaml.Node, p string) { m.From = d.str(v, p, false) },
				"to":      func(v *yaml.Node, p string) { m.To = d.str(v, p, false) },
				"folders": func(v *yaml.Node, p string) { m.Folders = d.folders(v, p) },
			})
		},
		"cleanup": func(v *yaml.Node, p string) {
			c := &CleanupJob{}
			j.Cleanup = c
			var exclude []string
			d.mapping(v, p, map[string]fieldFunc{
				"account":     func(v *yaml.Node, p string) { c.Account = d.str(v, p, false) },
				"older_than":  func(v *yaml.Node, p string) { c.OlderThan = d.age(v, p) },
				"before":      func(v *yaml.Node, p string) { d.before[c] = d.str(v, p, false) },
				"larger_than": func(v *yaml.Node, p string) { c.LargerThan = d.size(v, p) },
				"folders":     func(v *yaml.Node, p string) { c.Folders = d.folders(v, p) },
				"exclude":     func(v *yaml.Node, p string) { exclude = d.patterns(v, p) },
				"by":          func(v *yaml.Node, p string) { c.By = d.str(v, p, false) },
			})
			c.Folders.Exclude = append(c.Folders.Exclude, exclude...)
		},
		"export": func(v *yaml.Node, p string) {
			e := &ExportJob{}
			j.Export = e
			d.mapping(v, p, map[string]fieldFunc{
				"account":         func(v *yaml.Node, p string) { e.Account = d.str(v, p, false) },
				"format":          func(v *yaml.Node, p string) { e.Format = d.str(v, p, false) },
				"out":             func(v *yaml.Node, p string) { e.Out = d.str(v, p, false) },
				"folders":         func(v *yaml.Node, p string) { e.Folders = d.folders(v, p) },
				"include_deleted": func(v *yaml.Node, p string) { e.IncludeDeleted = d.boolean(v, p) },
			})
		},
	})
}

// namespaces decodes the list of namespace kinds an account's backup,
// migration and cleanup cover (personal, other, shared).
func (d *decoder) namespaces(n *yaml.Node, path string) namespace.Wanted {
	var out namespace.Wanted
	for _, s := range d.strings(n, path) {
		k, err := namespace.ParseKind(s)
		if err != nil {
			d.at(path, "%v", err)
			continue
		}
		out = append(out, k)
	}
	return out
}
