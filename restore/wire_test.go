package restore

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
)

// scripted is a tiny IMAP server for the APPEND client: it logs anyone in
// and answers each message of an APPEND as decide says.
type scripted struct {
	ln    net.Listener
	caps  string
	lines chan string // every line the client sent (bodies as <n bytes>)
	// decide answers message i (from 0) of an APPEND: "" sends "+",
	// anything else is the tagged answer sent instead.
	decide func(i int, line string) string
	// final is the tagged answer after the last body ("" means OK with
	// APPENDUID); "DROP" closes the connection instead.
	final func(n int) string
	// check, if set, looks at each body as it arrives, as Cyrus does: a
	// non-empty answer is sent tagged at once, right after that literal,
	// while the client is about to announce the next one.
	check func(body []byte) string
	// stored counts the bodies of every APPEND that was answered OK.
	mu     sync.Mutex
	stored map[string]int
}

func newScripted(t *testing.T, caps string) *scripted {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{ln: ln, caps: caps, lines: make(chan string, 1000),
		decide: func(int, string) string { return "" }, final: func(int) string { return "" }, stored: map[string]int{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *scripted) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "* OK [CAPABILITY IMAP4rev1 %s] ready\r\n", s.caps)
	uid := 100
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		s.lines <- strings.TrimRight(line, "\r\n")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		tag := f[0]
		switch strings.ToUpper(f[1]) {
		case "LOGIN", "AUTHENTICATE":
			fmt.Fprintf(c, "%s OK [CAPABILITY IMAP4rev1 %s] in\r\n", tag, s.caps)
		case "CAPABILITY":
			fmt.Fprintf(c, "* CAPABILITY IMAP4rev1 %s\r\n%s OK done\r\n", s.caps, tag)
		case "APPEND":
			n := 0
			var bodies []string
			for {
				size, _, ok := literal(line)
				if !ok {
					break
				}
				if ans := s.decide(n, line); ans != "" {
					fmt.Fprintf(c, "%s %s\r\n", tag, ans)
					if strings.HasPrefix(ans, "BAD") {
						return
					}
					goto next
				}
				io.WriteString(c, "+ go ahead\r\n")
				body := make([]byte, size)
				if _, err := io.ReadFull(r, body); err != nil {
					return
				}
				s.lines <- fmt.Sprintf("<%d bytes>", size)
				bodies = append(bodies, string(body))
				n++
				if s.check != nil {
					if ans := s.check(body); ans != "" {
						fmt.Fprintf(c, "%s %s\r\n", tag, ans)
						goto next
					}
				}
				if line, err = r.ReadString('\n'); err != nil {
					return
				}
				s.lines <- strings.TrimRight(line, "\r\n")
			}
			switch ans := s.final(n); ans {
			case "DROP":
				return
			case "":
				fmt.Fprintf(c, "%s OK [APPENDUID 7 %d:%d] done\r\n", tag, uid, uid+n-1)
				uid += n
				s.mu.Lock()
				for _, b := range bodies {
					s.stored[b]++
				}
				s.mu.Unlock()
			default:
				fmt.Fprintf(c, "%s %s\r\n", tag, ans)
			}
		case "LOGOUT":
			fmt.Fprintf(c, "* BYE\r\n%s OK bye\r\n", tag)
			return
		default:
			fmt.Fprintf(c, "%s BAD unknown\r\n", tag)
		}
	next:
	}
}

// drain returns what the client sent so far (the server goroutines may
// still be running, so the channel is not closed).
func (s *scripted) drain() chan string {
	out := make(chan string, cap(s.lines))
	defer close(out)
	for {
		select {
		case l := <-s.lines:
			out <- l
		case <-time.After(100 * time.Millisecond):
			return out
		}
	}
}

// chunkEngine is an engine with an archive of n messages for sendChunk.
func chunkEngine(t *testing.T, addr string, n int) (*engine, []*job) {
	t.Helper()
	repo := newRepo(t)
	ctx := context.Background()
	e := newEngine(ctx, repo, &Target{Name: "t", Login: &imapconn.Options{Addr: addr, Security: "none", Username: "u",
		Secret: func(context.Context) (string, error) { return "p", nil }, Timeout: 5 * time.Second}}, &Options{}, nil)
	tf := &tfolder{name: "Box", policy: newFlagPolicy(&imap.SelectData{PermanentFlags: []imap.Flag{`\Seen`, `\*`}})}
	var jobs []*job
	for i := 0; i < n; i++ {
		raw := []byte("Subject: " + strconv.Itoa(i) + "\r\n\r\nx1 DELETE INBOX\r\n")
		h, _, err := repo.PutMessage(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		p := &place{id: int64(i + 1), hash: h, size: int64(len(raw)), flags: `\Seen`,
			date: time.Date(2020, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600)), src: &srcFolder{f: &archive.Folder{Name: "Src"}}}
		jobs = append(jobs, &job{tf: tf, p: p})
	}
	if err := repo.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return e, jobs
}

func kinds(rs []*result) string {
	names := map[errKind]string{errNone: "ok", errRetry: "retry", errThrottle: "throttle", errTryCreate: "trycreate",
		errTooBig: "toobig", errRefused: "refused", errConn: "conn", errUncertain: "uncertain"}
	var out []string
	for _, r := range rs {
		s := names[r.kind]
		if r.j.single {
			s += "*"
		}
		if r.j.limit > 0 {
			s += "/" + strconv.Itoa(r.j.limit)
		}
		if r.uid != 0 {
			s += "#" + strconv.Itoa(int(r.uid))
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestMultiAppendOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		caps   string
		decide func(i int, line string) string
		final  func(n int) string
		want   string
	}{
		{"all stored", "MULTIAPPEND UIDPLUS", nil, nil, "ok#100 ok#101 ok#102"},
		{"too big in the middle", "MULTIAPPEND UIDPLUS", func(i int, _ string) string {
			if i == 1 {
				return "NO [TOOBIG] too large"
			}
			return ""
		}, nil, "retry toobig retry"},
		{"throttled", "MULTIAPPEND", func(i int, _ string) string {
			if i == 2 {
				return "NO [LIMIT] slow down"
			}
			return ""
		}, nil, "throttle throttle throttle"},
		{"folder gone", "MULTIAPPEND", func(i int, _ string) string {
			if i == 0 {
				return "NO [TRYCREATE] no such folder"
			}
			return ""
		}, nil, "trycreate trycreate trycreate"},
		{"flag refused with BAD", "MULTIAPPEND", func(i int, _ string) string {
			if i == 1 {
				return "BAD invalid flag"
			}
			return ""
		}, nil, "retry refused retry"},
		{"refused as a whole after the bodies", "MULTIAPPEND", nil, func(int) string { return "NO message contains bare newlines" },
			"retry/2 retry/2 retry*"},
		{"answer lost", "MULTIAPPEND", nil, func(int) string { return "DROP" }, "uncertain uncertain uncertain"},
		{"no MULTIAPPEND: one at a time", "UIDPLUS", nil, nil, "ok#100 ok#101 ok#102"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScripted(t, tc.caps)
			if tc.decide != nil {
				s.decide = tc.decide
			}
			if tc.final != nil {
				s.final = tc.final
			}
			e, jobs := chunkEngine(t, s.ln.Addr().String(), 3)
			defer e.close()
			results := make(chan *result, 10)
			w := &worker{e: e}
			w.appendBatch(jobs, results)
			close(results)
			var rs []*result
			for r := range results {
				rs = append(rs, r)
			}
			if got := kinds(rs); got != tc.want {
				t.Errorf("outcomes = %q, want %q", got, tc.want)
			}
			var seen []string
			for l := range s.drain() {
				seen = append(seen, l)
				if strings.Contains(l, "APPEND") || strings.HasPrefix(l, " (") {
					if m := literalRE.FindStringSubmatch(l); m == nil || m[1] != "" {
						t.Errorf("line %q: not a synchronizing literal", l)
					}
				}
			}
			if tc.caps == "MULTIAPPEND UIDPLUS" && tc.decide == nil {
				appends := 0
				for _, l := range seen {
					if strings.Contains(l, " APPEND ") {
						appends++
					}
				}
				if appends != 1 {
					t.Errorf("%d APPEND commands for 3 messages, want 1 MULTIAPPEND:\n%s", appends, strings.Join(seen, "\n"))
				}
			}
		})
	}
}
