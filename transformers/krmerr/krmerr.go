// Package krmerr is the error the transformers return: it names the resource and
// the field it is about, so the function can report it as a KRM result.
package krmerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Ref names a resource.
type Ref struct {
	APIVersion, Kind, Namespace, Name string
}

// RefOf returns the Ref of a resource node.
func RefOf(n *yaml.RNode) *Ref {
	if n == nil {
		return nil
	}
	return &Ref{APIVersion: n.GetApiVersion(), Kind: n.GetKind(), Namespace: n.GetNamespace(), Name: n.GetName()}
}

func (r *Ref) String() string {
	if r == nil {
		return ""
	}
	s := r.Kind
	if r.Namespace != "" {
		s += " " + r.Namespace + "/" + r.Name
	} else {
		s += " " + r.Name
	}
	return s
}

// Error is a failure about one field of one resource (either may be unknown).
type Error struct {
	Ref     *Ref
	Field   string
	Message string
	// Config marks an error about the function config itself (its field is a
	// field of the config): the function names the config as its resource.
	Config bool
}

func (e *Error) Error() string {
	s := e.Message
	if e.Field != "" {
		s = e.Field + ": " + s
	}
	if e.Ref != nil {
		s = e.Ref.String() + ": " + s
	}
	return s
}

// Errorf makes an Error about field (of a resource to be named later with At).
func Errorf(field, format string, a ...any) *Error {
	return &Error{Field: field, Message: fmt.Sprintf(format, a...)}
}

// About makes an Error about field of resource n.
func About(n *yaml.RNode, field, format string, a ...any) *Error {
	return &Error{Ref: RefOf(n), Field: field, Message: fmt.Sprintf(format, a...)}
}

// ConfigErrorf makes an Error about field of the function config.
func ConfigErrorf(field, format string, a ...any) *Error {
	return &Error{Field: field, Message: fmt.Sprintf(format, a...), Config: true}
}

// At names the resource of err when it does not name one yet; a plain error
// becomes an Error about that resource.
func At(n *yaml.RNode, err error) error {
	if err == nil {
		return nil
	}
	if errs := Split(err); len(errs) > 1 {
		for i, e := range errs {
			errs[i] = At(n, e)
		}
		return errors.Join(errs...)
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Ref == nil {
			c := *e
			c.Ref = RefOf(n)
			return &c
		}
		return e
	}
	return &Error{Ref: RefOf(n), Message: err.Error()}
}

// Prefix puts parent in front of the field path of err.
func Prefix(parent string, err error) error {
	var e *Error
	if err == nil || !errors.As(err, &e) {
		return err
	}
	c := *e
	c.Field = Path(parent, c.Field)
	return &c
}

// Path is field under parent: parent.field, parent[i] for an index, or parent.
func Path(parent, field string) string {
	switch {
	case field == "":
		return parent
	case field[0] == '[':
		return parent + field
	}
	return parent + "." + field
}

// Split returns the errors an errors.Join holds, or err alone.
func Split(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return append([]error{}, j.Unwrap()...)
	}
	return []error{err}
}

// MaxQuoted bounds how much of one value of the user's a message quotes.
const MaxQuoted = 200

// Clip is s cut to MaxQuoted bytes (at a UTF-8 boundary), saying how much was
// left out: a message quotes the user's input, never repeats it whole.
func Clip(s string) string { return ClipTo(s, MaxQuoted) }

// ClipTo is s cut to n bytes (at a UTF-8 boundary), saying how much was left out.
func ClipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes more)", s[:cut], len(s)-cut)
}

// WrongType words a JSON decoder's type error for a user: what the value is and
// what the field wants, in YAML's words ("got a list, want a mapping"), never a
// Go type's name.
func WrongType(te *json.UnmarshalTypeError) string {
	return fmt.Sprintf("wrong type: got %s, want %s", jsonWord(te.Value), typeWord(te.Type))
}

// jsonWord names a JSON value's kind as YAML calls it ("object": mapping).
func jsonWord(v string) string {
	switch v {
	case "object":
		return "a mapping"
	case "array":
		return "a list"
	case "number":
		return "a number"
	case "bool":
		return "a boolean"
	}
	return "a " + v
}

// typeWord names what a Go type reads, in YAML's words, never the Go name.
func typeWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Pointer:
		return typeWord(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a value of another type"
}
