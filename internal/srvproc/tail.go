package srvproc

import (
	"os"
	"strings"
)

// Tail returns the last lines of the file at path (read from its last
// 64 KiB at most), or "" if it cannot be read; for failure messages.
func Tail(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		f.Seek(st.Size()-window, 0)
	}
	buf := make([]byte, window)
	n, _ := f.Read(buf)
	ls := strings.SplitAfter(string(buf[:n]), "\n")
	if len(ls) > 0 && ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "")
}
