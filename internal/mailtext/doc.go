// Package mailtext turns a message's exact bytes into the text a person
// reads: header fields with RFC 2047 words decoded, and the body's text
// parts decoded from their transfer encoding and charset, HTML stripped.
// It is what search indexes and what show prints. It never fails: a
// message it cannot parse yields what could be read of it.
//
//	doc := mailtext.Extract(raw)           // for the search index
//	for _, p := range mailtext.Parts(raw) { // for show
//		p.Number, p.Type, p.Filename, p.Size
//	}
//	body, _ := mailtext.PartBody(raw, n)  // one part, decoded
package mailtext
