package mailtext

import (
	"html"
	"strings"
)

// StripHTML turns an HTML body into its text: tags dropped (block tags
// become line breaks), script and style content dropped, entities
// decoded. It is for reading and indexing, not for rendering.
func StripHTML(s string) string {
	var out strings.Builder
	out.Grow(len(s) / 2)
	lower := strings.ToLower(s)
	i := 0
	for i < len(s) {
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			out.WriteString(html.UnescapeString(s[i:]))
			break
		}
		out.WriteString(html.UnescapeString(s[i : i+lt]))
		i += lt
		if strings.HasPrefix(lower[i:], "<!--") {
			end := strings.Index(s[i+4:], "-->")
			if end < 0 {
				break
			}
			i += 4 + end + 3
			continue
		}
		gt := strings.IndexByte(s[i:], '>')
		if gt < 0 {
			break
		}
		tag := lower[i+1 : i+gt]
		i += gt + 1
		name := strings.TrimPrefix(tag, "/")
		if j := strings.IndexAny(name, " \t\r\n/"); j >= 0 {
			name = name[:j]
		}
		switch name {
		case "script", "style", "head", "title":
			if !strings.HasPrefix(tag, "/") {
				end := strings.Index(lower[i:], "</"+name)
				if end < 0 {
					i = len(s)
				} else {
					i += end
				}
			}
		case "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote":
			out.WriteByte('\n')
		case "td", "th":
			out.WriteByte(' ')
		}
	}
	return collapseBlankLines(out.String())
}

// collapseBlankLines trims each line and keeps at most one empty line in a row.
func collapseBlankLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := true
	for _, l := range lines {
		l = strings.TrimSpace(strings.ReplaceAll(l, "\u00a0", " "))
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
