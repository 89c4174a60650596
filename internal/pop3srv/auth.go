package pop3srv

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

func (ss *session) apop(args []string) error {
	if !ss.srv.opts.APOP {
		return ss.reply("-ERR APOP not available")
	}
	if len(args) != 2 {
		return ss.reply("-ERR usage: APOP name digest")
	}
	digest := strings.ToLower(args[1])
	return ss.logIn(args[0], func(pass string) bool {
		sum := md5.Sum([]byte(ss.ts + pass))
		return hex.EncodeToString(sum[:]) == digest
	})
}

// auth runs AUTH (RFC 5034) for PLAIN, XOAUTH2 and OAUTHBEARER.
func (ss *session) auth(args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return ss.reply("-ERR usage: AUTH mechanism [initial-response]")
	}
	mech := strings.ToUpper(args[0])
	offered := false
	for _, m := range ss.srv.opts.SASL {
		offered = offered || m == mech
	}
	if !offered {
		return ss.reply("-ERR unsupported mechanism")
	}
	var enc string
	if len(args) == 2 {
		enc = args[1]
		if enc == "=" {
			enc = ""
		}
	} else {
		line, err := ss.challenge("")
		if err != nil {
			return err
		}
		if line == "*" {
			return ss.reply("-ERR authentication cancelled")
		}
		enc = line
	}
	resp, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return ss.reply("-ERR malformed base64")
	}
	var user, token string
	switch mech {
	case "PLAIN":
		parts := strings.Split(string(resp), "\x00")
		if len(parts) != 3 {
			return ss.reply("-ERR malformed PLAIN response")
		}
		return ss.logIn(parts[1], func(p string) bool { return p == parts[2] })
	case "XOAUTH2":
		for _, kv := range strings.Split(string(resp), "\x01") {
			if v, ok := strings.CutPrefix(kv, "user="); ok {
				user = v
			} else if v, ok := strings.CutPrefix(kv, "auth=Bearer "); ok {
				token = v
			}
		}
		return ss.oauth(user, token, `{"status":"401","schemes":"bearer","scope":"https://mail.example/pop"}`)
	default: // OAUTHBEARER, RFC 7628
		parts := strings.Split(string(resp), "\x01")
		for _, f := range strings.Split(parts[0], ",") {
			if v, ok := strings.CutPrefix(f, "a="); ok {
				user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(v)
			}
		}
		for _, kv := range parts[1:] {
			if v, ok := strings.CutPrefix(kv, "auth=Bearer "); ok {
				token = v
			}
		}
		return ss.oauth(user, token, `{"status":"invalid_token","scope":"pop"}`)
	}
}

// oauth logs in with a bearer token; on failure it sends the error
// challenge and waits for the client's (empty) answer first, as the
// token mechanisms require.
func (ss *session) oauth(user, token, errJSON string) error {
	ok := false
	msgs, login, failure := ss.srv.lock(user, func(p string) bool { ok = token != "" && p == token; return ok })
	if failure == "" {
		ss.user, ss.login, ss.msgs = user, login, msgs
		ss.deleted = map[*message]bool{}
		return ss.reply("+OK " + user + " logged in")
	}
	if !ok {
		line, err := ss.challenge(base64.StdEncoding.EncodeToString([]byte(errJSON)))
		if err != nil {
			return err
		}
		_ = line // the answer carries nothing
	}
	return ss.reply("-ERR " + failure)
}

// challenge sends "+ text" and returns the client's answer line.
func (ss *session) challenge(text string) (string, error) {
	if err := ss.reply("+ " + text); err != nil {
		return "", err
	}
	if err := ss.bw.Flush(); err != nil {
		return "", err
	}
	return ss.readLine()
}
