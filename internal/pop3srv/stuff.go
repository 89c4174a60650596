package pop3srv

import (
	"bytes"
	"io"
)

// WriteDotStuffed writes data as the body of a multi-line response:
// dot-stuffed, then terminated (see the package doc).
func WriteDotStuffed(w io.Writer, data []byte) error {
	rest := data
	if len(rest) > 0 && rest[0] == '.' {
		if _, err := w.Write([]byte{'.'}); err != nil {
			return err
		}
	}
	for {
		i := bytes.Index(rest, []byte("\n."))
		if i < 0 {
			break
		}
		// Up to and including the LF, then the stuffing dot; the line's
		// own dot goes out with the next piece.
		if _, err := w.Write(rest[:i+1]); err != nil {
			return err
		}
		if _, err := w.Write([]byte{'.'}); err != nil {
			return err
		}
		rest = rest[i+1:]
	}
	if _, err := w.Write(rest); err != nil {
		return err
	}
	term := ".\r\n"
	if len(data) > 0 && data[len(data)-1] != '\n' {
		term = "\r\n.\r\n"
	}
	_, err := io.WriteString(w, term)
	return err
}

// ClientBytes returns what a byte-exact client gets back for a stored
// message: data itself, or data plus "\r\n" when data is not empty and
// does not end with LF.
func ClientBytes(data []byte) []byte {
	if len(data) == 0 || data[len(data)-1] == '\n' {
		return data
	}
	return append(append([]byte(nil), data...), '\r', '\n')
}

// topBytes returns the part of data that TOP n sends: the header, the
// blank line that ends it and n lines of the body. Without a blank line
// the whole message is header.
func topBytes(data []byte, n int) []byte {
	end := -1
	for off := 0; off < len(data); {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			break
		}
		line := data[off : off+i+1]
		off += i + 1
		if len(line) == 1 || len(line) == 2 && line[0] == '\r' {
			end = off
			break
		}
	}
	if end < 0 {
		return data
	}
	for ; n > 0 && end < len(data); n-- {
		i := bytes.IndexByte(data[end:], '\n')
		if i < 0 {
			return data
		}
		end += i + 1
	}
	return data[:end]
}
