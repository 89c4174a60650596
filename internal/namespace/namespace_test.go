package namespace

import "testing"

// cyrusDot is Cyrus's Debian layout; cyrusAlt Cyrus 3's altnamespace.
var (
	cyrusDot = &Set{FromServer: true, Spaces: []Space{
		{Kind: Personal, Prefix: "INBOX.", Delim: "."},
		{Kind: Other, Prefix: "user.", Delim: "."},
		{Kind: Shared, Prefix: "", Delim: "."},
	}}
	cyrusAlt = &Set{FromServer: true, Spaces: []Space{
		{Kind: Personal, Prefix: "", Delim: "/"},
		{Kind: Other, Prefix: "Other Users/", Delim: "/"},
		{Kind: Shared, Prefix: "Shared Folders/", Delim: "/"},
	}}
	dovecotShared = &Set{FromServer: true, Spaces: []Space{
		{Kind: Personal, Prefix: "", Delim: "/"},
		{Kind: Other, Prefix: "shared/", Delim: "/"},
		{Kind: Shared, Prefix: "Public/", Delim: "/"},
	}}
)

func TestKind(t *testing.T) {
	tests := []struct {
		set  *Set
		name string
		want Kind
	}{
		{cyrusDot, "INBOX", Personal},
		{cyrusDot, "inbox", Personal},
		{cyrusDot, "INBOX.Sent", Personal},
		{cyrusDot, "user.bob.Shared", Other},
		{cyrusDot, "user", Other},
		{cyrusDot, "Public", Shared},
		{cyrusDot, "Public.Sub", Shared},
		{cyrusAlt, "Sent", Personal},
		{cyrusAlt, "Other Users/bob/Shared", Other},
		{cyrusAlt, "Other Users", Other},
		{cyrusAlt, "Shared Folders/Public", Shared},
		{dovecotShared, "shared/bob/x", Other},
		{dovecotShared, "sharedstuff", Personal},
		{dovecotShared, "Public/News", Shared},
		{nil, "anything", Personal},
		{&Set{}, "anything", Personal},
	}
	for _, tt := range tests {
		if got := tt.set.Kind(tt.name); got != tt.want {
			t.Errorf("Kind(%q) = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct {
		name, in string
		delim    rune
		prefix   string
		want     string
	}{
		{"prefix taken off", "INBOX.Sent", '.', "INBOX.", "Sent"},
		{"prefix any case", "Inbox.Sent", '.', "INBOX.", "Sent"},
		{"nested", "INBOX.Archive.2020", '.', "INBOX.", "Archive/2020"},
		{"INBOX stays", "INBOX", '.', "INBOX.", "INBOX"},
		{"inbox upper", "inbox", '/', "", "INBOX"},
		{"no prefix: INBOX child kept", "INBOX/Receipts", '/', "", "INBOX/Receipts"},
		{"no prefix, dot server", "INBOX.Receipts", '.', "", "INBOX/Receipts"},
		{"inbox level upper", "inbox.x", '.', "", "INBOX/x"},
		{"slash server", "Archive/2020", '/', "", "Archive/2020"},
		{"flat", "a.b", 0, "", "a.b"},
		{"not under prefix", "Other", '.', "INBOX.", "Other"},
		{"UTF-8", "INBOX.Entwürfe", '.', "INBOX.", "Entwürfe"},
	}
	for _, tt := range tests {
		if got := Canonical(tt.in, tt.delim, tt.prefix); got != tt.want {
			t.Errorf("%s: Canonical(%q, %q, %q) = %q, want %q", tt.name, tt.in, tt.delim, tt.prefix, got, tt.want)
		}
	}
	setTests := []struct {
		set      *Set
		in, want string
	}{
		{cyrusDot, "INBOX.Sent", "Sent"},
		{cyrusDot, "user.bob.Shared", "user/bob/Shared"},
		{cyrusDot, "Public", "Public"},
		{cyrusAlt, "Other Users/bob/Shared", "Other Users/bob/Shared"},
		{nil, "INBOX.Sent", "INBOX/Sent"},
	}
	for _, tt := range setTests {
		if got := tt.set.Canonical(tt.in, '.'); tt.set == cyrusAlt {
			got = tt.set.Canonical(tt.in, '/')
			if got != tt.want {
				t.Errorf("Set.Canonical(%q) = %q, want %q", tt.in, got, tt.want)
			}
		} else if got != tt.want {
			t.Errorf("Set.Canonical(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestGuess(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		delim rune
		want  string
	}{
		{"courier", []string{"INBOX", "INBOX.Sent", "INBOX.Trash"}, '.', "INBOX."},
		{"dot but top level folder", []string{"INBOX", "INBOX.Sent", "Trash"}, '.', ""},
		{"slash", []string{"INBOX", "INBOX/Sent"}, '/', ""},
		{"only INBOX", []string{"INBOX"}, '.', ""},
	}
	for _, tt := range tests {
		if got := Guess(tt.names, tt.delim).PersonalPrefix(); got != tt.want {
			t.Errorf("%s: Guess(%q).PersonalPrefix() = %q, want %q", tt.name, tt.names, got, tt.want)
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	got, err := Decode(cyrusDot.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind("user.x.y") != Other || got.PersonalPrefix() != "INBOX." || !got.FromServer {
		t.Errorf("Decode(Encode()) = %+v, want %+v", got, cyrusDot)
	}
	if s, err := Decode(""); s != nil || err != nil {
		t.Errorf(`Decode("") = %v, %v, want nil, nil`, s, err)
	}
	if _, err := Decode("{"); err == nil {
		t.Error(`Decode("{") = nil error, want one`)
	}
}

func TestRights(t *testing.T) {
	tests := []struct {
		r            Rights
		read, delete bool
	}{
		{"lrswipkxtecdan", true, true}, // Cyrus owner
		{"lrs", true, false},
		{"l", false, false},
		{"lrte", true, true},   // RFC 4314
		{"lrt", true, false},   // may flag, may not expunge
		{"lrd", true, true},    // RFC 2086
		{"lrswi", true, false}, // read-write but no delete
	}
	for _, tt := range tests {
		if got := tt.r.CanRead(); got != tt.read {
			t.Errorf("Rights(%q).CanRead() = %v, want %v", tt.r, got, tt.read)
		}
		if got := tt.r.CanDelete(); got != tt.delete {
			t.Errorf("Rights(%q).CanDelete() = %v, want %v", tt.r, got, tt.delete)
		}
	}
	if !(Wanted(nil)).Has(Personal) || (Wanted(nil)).Has(Other) || !(Wanted{Personal, Shared}).Has(Shared) {
		t.Error("Wanted.Has: nil must mean personal only")
	}
}
