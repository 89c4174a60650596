// Package config is the one place mailkeep's YAML config is read: it is
// decoded strictly, validated as a whole and handed out as plain structs.
// REFERENCE.md in this directory documents every key; examples/ at the
// top of the repository holds complete, commented files.
//
// The main loop:
//
//	data := read(path)
//	root := yaml.v3 node tree of data          // syntax errors: FILE:LINE
//	walk root against the schema (schema.go):
//	    unknown key, wrong type, duplicate key -> problem with path and line
//	validate the result (validate.go):
//	    required keys, allowed values, ranges, job -> account references,
//	    cron schedules, time zones; fill in defaults; expand "~"
//	if any problem: return *Error listing all of them, in file order
//	return *Config and warnings (e.g. a readable file with a password)
//
// Problems read "config.yaml:12: accounts.work.imap.hots: unknown key
// (did you mean "host"?)". A config error is permanent; nothing here
// prints, and no message or String method ever contains a secret.
//
// Values are taken as written: environment variables ($HOME, ${X}) are
// not expanded anywhere, on purpose, so that what the file says is what
// runs. Secrets come from password_env, password_file, password_command
// or token_command instead, resolved by Account.Secret only when a login
// needs them. "~" is expanded in archive, password_file, ca_file and
// export out, and relative paths there are relative to the config file's
// directory. YAML anchors, aliases and merge keys (<<) may be used to
// share settings between accounts.
package config
