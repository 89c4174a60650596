package imapsrv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scripted is a small IMAP server on 127.0.0.1 that serves folders from
// plain data and gets things wrong on purpose: UIDs outside the range
// asked for, duplicate or descending UIDs, FETCH responses without UID, a
// RFC822.SIZE that is not the literal's, no UIDVALIDITY, a UIDNEXT that
// goes back; and, through Hook, any bytes at all (endless lines, huge
// literals, a trickle). It logs anyone in with LOGIN.
//
//	s, _ := imapsrv.StartScripted()
//	defer s.Close()
//	s.SetFolder(&imapsrv.ScriptFolder{Name: "INBOX", UIDValidity: 7, Messages: msgs})
type Scripted struct {
	ln net.Listener
	// Caps is added to "IMAP4rev1" in CAPABILITY.
	Caps string

	mu      sync.Mutex
	folders []*ScriptFolder
	// Hook, if set, sees every command first (name upper case, UID
	// folded in: "UID FETCH"); if it returns true it has answered.
	hook  func(w *bufio.Writer, tag, cmd, args string) bool
	conns []net.Conn
	wg    sync.WaitGroup
}

// ScriptFolder is one folder of a Scripted server.
type ScriptFolder struct {
	Name        string
	UIDValidity uint32 // 0: SELECT sends none
	UIDNext     uint32 // 0: the highest UID + 1
	Messages    []ScriptMessage
}

// ScriptMessage is one FETCH response of a folder, in the order given.
type ScriptMessage struct {
	UID   uint32
	Flags []string
	Date  time.Time
	Body  []byte
	Size  int64 // RFC822.SIZE sent; 0 means len(Body)
	NoUID bool  // the response carries no UID
	// Always: sent for every FETCH of bodies, whatever UIDs were asked.
	Always bool
}

// StartScripted listens on 127.0.0.1:0 and serves until Close.
func StartScripted() (*Scripted, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Scripted{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	return s, nil
}

// Addr is host:port.
func (s *Scripted) Addr() string { return s.ln.Addr().String() }

// Close stops the server and closes every connection.
func (s *Scripted) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// SetFolder adds or replaces a folder.
func (s *Scripted) SetFolder(f *ScriptFolder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, g := range s.folders {
		if g.Name == f.Name {
			s.folders[i] = f
			return
		}
	}
	s.folders = append(s.folders, f)
}

// SetHook installs the command hook (nil removes it).
func (s *Scripted) SetHook(h func(w *bufio.Writer, tag, cmd, args string) bool) {
	s.mu.Lock()
	s.hook = h
	s.mu.Unlock()
}

func (s *Scripted) folder(name string) *ScriptFolder {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.folders {
		if f.Name == name || (strings.EqualFold(f.Name, "INBOX") && strings.EqualFold(name, "INBOX")) {
			return f
		}
	}
	return nil
}

func (s *Scripted) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	caps := strings.TrimSpace("IMAP4rev1 " + s.Caps)
	fmt.Fprintf(w, "* OK [CAPABILITY %s] scripted\r\n", caps)
	w.Flush()
	var sel *ScriptFolder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		tag, rest, _ := strings.Cut(line, " ")
		cmd, args, _ := strings.Cut(rest, " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "UID" {
			sub, a, _ := strings.Cut(args, " ")
			cmd, args = "UID "+strings.ToUpper(sub), a
		}
		s.mu.Lock()
		hook := s.hook
		s.mu.Unlock()
		if hook != nil && hook(w, tag, cmd, args) {
			if w.Flush() != nil {
				return
			}
			continue
		}
		switch cmd {
		case "CAPABILITY":
			fmt.Fprintf(w, "* CAPABILITY %s\r\n%s OK done\r\n", caps, tag)
		case "LOGIN", "NOOP", "CHECK", "CLOSE", "UNSELECT", "ENABLE":
			fmt.Fprintf(w, "%s OK done\r\n", tag)
		case "LOGOUT":
			fmt.Fprintf(w, "* BYE bye\r\n%s OK done\r\n", tag)
			w.Flush()
			return
		case "LIST", "LSUB":
			s.mu.Lock()
			for _, f := range s.folders {
				fmt.Fprintf(w, "* %s () \"/\" %q\r\n", cmd, f.Name)
			}
			s.mu.Unlock()
			fmt.Fprintf(w, "%s OK done\r\n", tag)
		case "SELECT", "EXAMINE":
			name, _ := strconv.Unquote(strings.Fields(args + " ")[0])
			if name == "" {
				name = strings.Fields(args + " ")[0]
			}
			sel = s.folder(name)
			if sel == nil {
				fmt.Fprintf(w, "%s NO no such folder\r\n", tag)
				break
			}
			s.mu.Lock()
			fmt.Fprintf(w, "* %d EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)\r\n", len(sel.Messages))
			if sel.UIDValidity != 0 {
				fmt.Fprintf(w, "* OK [UIDVALIDITY %d] ok\r\n", sel.UIDValidity)
			}
			fmt.Fprintf(w, "* OK [UIDNEXT %d] ok\r\n", sel.uidNext())
			s.mu.Unlock()
			fmt.Fprintf(w, "%s OK [READ-ONLY] done\r\n", tag)
		case "UID SEARCH":
			if sel == nil {
				fmt.Fprintf(w, "%s BAD nothing selected\r\n", tag)
				break
			}
			s.mu.Lock()
			set := "1:*"
			if f := strings.Fields(args); len(f) >= 2 && strings.EqualFold(f[0], "UID") {
				set = f[1]
			}
			var out []string
			for _, m := range sel.Messages {
				if !m.NoUID && !m.Always && scriptInSet(set, m.UID, sel.maxUID()) {
					out = append(out, strconv.FormatUint(uint64(m.UID), 10))
				}
			}
			s.mu.Unlock()
			fmt.Fprintf(w, "* SEARCH %s\r\n%s OK done\r\n", strings.Join(out, " "), tag)
		case "UID FETCH", "FETCH":
			if sel == nil {
				fmt.Fprintf(w, "%s BAD nothing selected\r\n", tag)
				break
			}
			set, items, _ := strings.Cut(args, " ")
			s.mu.Lock()
			s.fetch(w, sel, cmd == "UID FETCH", set, strings.ToUpper(items))
			s.mu.Unlock()
			fmt.Fprintf(w, "%s OK done\r\n", tag)
		default:
			fmt.Fprintf(w, "%s BAD unknown command\r\n", tag)
		}
		if w.Flush() != nil {
			return
		}
	}
}

func (f *ScriptFolder) maxUID() uint32 {
	var top uint32
	for _, m := range f.Messages {
		if !m.Always && m.UID > top {
			top = m.UID
		}
	}
	return top
}

func (f *ScriptFolder) uidNext() uint32 {
	if f.UIDNext != 0 {
		return f.UIDNext
	}
	return f.maxUID() + 1
}

func (s *Scripted) fetch(w io.Writer, f *ScriptFolder, byUID bool, set, items string) {
	body := strings.Contains(items, "BODY")
	for i, m := range f.Messages {
		id := m.UID
		if !byUID {
			id = uint32(i + 1)
		}
		if !(m.Always && body) && !scriptInSet(set, id, max(f.maxUID(), uint32(len(f.Messages)))) {
			continue
		}
		var parts []string
		if !m.NoUID {
			parts = append(parts, fmt.Sprintf("UID %d", m.UID))
		}
		if strings.Contains(items, "FLAGS") {
			parts = append(parts, "FLAGS ("+strings.Join(m.Flags, " ")+")")
		}
		if strings.Contains(items, "INTERNALDATE") {
			d := m.Date
			if d.IsZero() {
				d = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
			}
			parts = append(parts, `INTERNALDATE "`+d.Format("02-Jan-2006 15:04:05 -0700")+`"`)
		}
		if strings.Contains(items, "RFC822.SIZE") {
			n := m.Size
			if n == 0 {
				n = int64(len(m.Body))
			}
			parts = append(parts, fmt.Sprintf("RFC822.SIZE %d", n))
		}
		fmt.Fprintf(w, "* %d FETCH (%s", i+1, strings.Join(parts, " "))
		if body {
			sep := " "
			if len(parts) == 0 {
				sep = ""
			}
			fmt.Fprintf(w, "%sBODY[] {%d}\r\n", sep, len(m.Body))
			w.Write(m.Body)
		}
		io.WriteString(w, ")\r\n")
	}
}

// scriptInSet reports whether n is in an IMAP sequence set ("1:4,7,9:*"),
// where * stands for top.
func scriptInSet(set string, n, top uint32) bool {
	num := func(s string) uint32 {
		if s == "*" {
			return top
		}
		v, _ := strconv.ParseUint(s, 10, 32)
		return uint32(v)
	}
	for _, part := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, b := num(lo), num(lo)
		if isRange {
			b = num(hi)
		}
		if a > b {
			a, b = b, a
		}
		if n >= a && n <= b {
			return true
		}
	}
	return false
}

// Folders is the names of the folders, in order.
func (s *Scripted) Folders() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, f := range s.folders {
		out = append(out, f.Name)
	}
	return slices.Clip(out)
}
