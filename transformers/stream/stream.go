// Package stream splits a multi-document YAML stream (a Helm render) into its
// documents as bytes, and reads a document's kind and name from its text without
// parsing it, so that a caller can parse only the documents it needs and write
// every other one back byte for byte.
package stream

import (
	"bytes"
	"strings"
)

// Doc is one document of a stream. Prefix holds its "---" marker line and the
// blank and comment lines before its content (Helm's "# Source:" line); Body is the
// rest, up to the next marker. Prefix+Body of every Doc, in order, is the stream.
type Doc struct {
	Prefix, Body []byte
}

// Split cuts in at the lines that start a document ("---" alone, or followed by a
// space or tab) and at "..." document end lines. A "---" line that carries content
// after the marker ("--- {a: b}") stays inside Body: such a document is parsed whole.
func Split(in []byte) []Doc {
	var docs []Doc
	start, off := 0, 0
	for line := range bytes.Lines(in) {
		if off > start && isMarker(line) {
			docs = append(docs, cut(in[start:off]))
			start = off
		}
		off += len(line)
	}
	if start < len(in) {
		docs = append(docs, cut(in[start:]))
	}
	return docs
}

func isMarker(line []byte) bool {
	l := bytes.TrimRight(line, "\r\n")
	if bytes.Equal(l, []byte("...")) {
		return true
	}
	if !bytes.HasPrefix(l, []byte("---")) {
		return false
	}
	rest := l[3:]
	return len(rest) == 0 || (rest[0] == ' ' || rest[0] == '\t') && (len(bytes.TrimSpace(rest)) == 0 || bytes.TrimSpace(rest)[0] == '#')
}

// cut splits a document's bytes into its prefix (marker, blank and comment lines)
// and its body.
func cut(doc []byte) Doc {
	off := 0
	for line := range bytes.Lines(doc) {
		if t := bytes.TrimSpace(line); len(t) != 0 && t[0] != '#' && !isMarker(line) {
			break
		}
		off += len(line)
	}
	return Doc{Prefix: doc[:off], Body: doc[off:]}
}

// Empty tells a document without content (comments only, as Helm writes for a
// template that renders nothing).
func (d Doc) Empty() bool { return len(bytes.TrimSpace(d.Body)) == 0 }

// TopLevel returns the value of a top-level key (a line "key: value" at column 0)
// of the document, unquoted, and whether it could be read from the text: a value
// that is not a plain or simply quoted scalar on that line, a flow-style document
// or a repeated key gives ok false, and the caller should parse the document.
func (d Doc) TopLevel(key string) (value string, ok bool) {
	found := false
	prefix := []byte(key + ":")
	for line := range bytes.Lines(d.Body) {
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		if found {
			return "", false
		}
		found = true
		value, ok = scalar(string(line[len(prefix):]))
		if !ok {
			return "", false
		}
	}
	return value, found
}

// MetadataName returns metadata.name read from the text: the first key below a
// top-level "metadata:" line at the indentation of its first child. ok is false
// when it cannot be read that way.
func (d Doc) MetadataName() (string, bool) {
	i := bytes.Index(d.Body, []byte("metadata:"))
	for i > 0 && d.Body[i-1] != '\n' { // not at the start of a line: look further
		j := bytes.Index(d.Body[i+1:], []byte("metadata:"))
		if j < 0 {
			return "", false
		}
		i += 1 + j
	}
	if i < 0 {
		return "", false
	}
	first, rest, _ := bytes.Cut(d.Body[i:], []byte("\n"))
	if string(bytes.TrimRight(first, " \t\r")) != "metadata:" {
		return "", false
	}
	indent := ""
	for lb := range bytes.Lines(rest) {
		l := strings.TrimRight(string(lb), "\n")
		t := strings.TrimLeft(l, " ")
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if len(t) == len(l) {
			return "", false // metadata ended without a name
		}
		if indent == "" {
			indent = l[:len(l)-len(t)]
		}
		if strings.HasPrefix(l, indent+"name:") {
			return scalar(l[len(indent)+len("name:"):])
		}
	}
	return "", false
}

// scalar reads a plain, single- or double-quoted scalar without escapes, with an
// optional trailing comment.
func scalar(s string) (string, bool) {
	s = strings.TrimSpace(strings.TrimSuffix(s, "\r"))
	if s == "" {
		return "", false
	}
	switch s[0] {
	case '"', '\'':
		end := strings.IndexByte(s[1:], s[0])
		if end < 0 || strings.ContainsAny(s[1:end+1], `\`) {
			return "", false
		}
		rest := strings.TrimSpace(s[end+2:])
		if rest != "" && rest[0] != '#' {
			return "", false
		}
		return s[1 : end+1], true
	case '{', '[', '&', '*', '!', '|', '>', '%', '@', '`':
		return "", false
	}
	if i := strings.Index(s, " #"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if strings.Contains(s, ": ") {
		return "", false
	}
	return s, true
}
