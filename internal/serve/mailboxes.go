package serve

import (
	"context"
	"fmt"
	"hash/crc32"
	"sort"
	"strings"

	"github.com/mailkeep/mailkeep/archive"
)

// Delim is the hierarchy delimiter of served mailbox names.
const Delim = '/'

// mailbox is one served mailbox: an archive folder, or (in the
// all-accounts view) an empty INBOX and the account levels, which hold no
// messages.
type mailbox struct {
	name       string
	folder     *archive.Folder // nil: a level with no messages of its own
	account    string
	specialUse string
}

// mailboxes lists what a session serves, by name. Archive folder names
// are rewritten with '/' as the delimiter; a folder gone from the server
// is served as long as it holds archived mail.
func (s *Server) mailboxes(ctx context.Context) (map[string]*mailbox, error) {
	repo := s.opts.Repo
	accts, err := repo.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]*mailbox{}
	if s.opts.Account == "" {
		out["INBOX"] = &mailbox{name: "INBOX"}
	}
	for _, a := range accts {
		if s.opts.Account != "" && a.Name != s.opts.Account {
			continue
		}
		stats, err := repo.Stats(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		prefix := ""
		if s.opts.Account == "" {
			prefix = a.Name + string(Delim)
			out[a.Name] = &mailbox{name: a.Name, account: a.Name}
		}
		for i := range stats {
			f := &stats[i].Folder
			if !f.GoneSince.IsZero() && stats[i].Messages == 0 {
				continue
			}
			name := prefix + servedName(f)
			if s.opts.Account == "" && strings.EqualFold(name, "INBOX") {
				name = "INBOX"
			}
			if _, dup := out[name]; dup && out[name].folder != nil {
				name = fmt.Sprintf("%s (%d)", name, f.ID)
			}
			out[name] = &mailbox{name: name, folder: f, account: a.Name, specialUse: f.SpecialUse}
		}
	}
	// Parents that are no folder of their own are listed \Noselect.
	for name := range out {
		for i := strings.IndexByte(name, Delim); i >= 0; {
			parent := name[:i]
			if _, ok := out[parent]; !ok {
				out[parent] = &mailbox{name: parent}
			}
			j := strings.IndexByte(name[i+1:], Delim)
			if j < 0 {
				break
			}
			i += 1 + j
		}
	}
	return out, nil
}

// servedName is a folder's name with '/' as its delimiter; INBOX keeps
// its name whatever its case on the server.
func servedName(f *archive.Folder) string {
	name := f.Name
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	if f.Delimiter != "" && f.Delimiter != string(Delim) {
		name = strings.ReplaceAll(name, string(Delim), "_")
		name = strings.ReplaceAll(name, f.Delimiter, string(Delim))
	}
	return name
}

// sortedNames lists names with INBOX first.
func sortedNames(m map[string]*mailbox) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "INBOX") != (names[j] == "INBOX") {
			return names[i] == "INBOX"
		}
		return names[i] < names[j]
	})
	return names
}

// uidValidity is a served folder's UIDVALIDITY: fixed for the folder of
// this archive (a second archive served on the same port gets others, so
// a client's cache is not mixed up), never 0.
func (s *Server) uidValidity(mb *mailbox) uint32 {
	id := int64(0)
	if mb.folder != nil {
		id = mb.folder.ID
	}
	v := crc32.ChecksumIEEE([]byte(fmt.Sprintf("%s/%d/%s", s.idKey, id, mb.name))) & 0x7fffffff
	if v == 0 {
		v = 1
	}
	return v
}
