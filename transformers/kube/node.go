package kube

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The custom JSON forms (IntOrString, Quantity), checked by type so that other
// values are not boxed into interfaces on the way.
var (
	marshalerType   = reflect.TypeFor[json.Marshaler]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// ToNode turns a value of this package's types into a block-style YAML node, as
// encoding/json would write it (field order, omitempty, map keys sorted), without
// going through JSON text.
func ToNode(v any) (*yaml.Node, error) {
	return encode(reflect.ValueOf(v))
}

func encode(v reflect.Value) (*yaml.Node, error) {
	if v.Type().Implements(marshalerType) {
		b, err := v.Interface().(json.Marshaler).MarshalJSON()
		if err != nil {
			return nil, err
		}
		var s string
		if json.Unmarshal(b, &s) == nil {
			return scalar(yaml.NodeTagString, s), nil
		}
		return scalar(yaml.NodeTagInt, string(b)), nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return scalar(yaml.NodeTagNull, "null"), nil
		}
		return encode(v.Elem())
	case reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: yaml.NodeTagMap}
		if err := encodeFields(m, v); err != nil {
			return nil, err
		}
		return m, nil
	case reflect.Slice:
		if v.IsNil() {
			return scalar(yaml.NodeTagNull, "null"), nil
		}
		s := &yaml.Node{Kind: yaml.SequenceNode, Tag: yaml.NodeTagSeq}
		for i := 0; i < v.Len(); i++ {
			n, err := encode(v.Index(i))
			if err != nil {
				return nil, err
			}
			s.Content = append(s.Content, n)
		}
		return s, nil
	case reflect.Map:
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: yaml.NodeTagMap}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			n, err := encode(v.MapIndex(k))
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, scalar(yaml.NodeTagString, k.String()), n)
		}
		return m, nil
	case reflect.String:
		return scalar(yaml.NodeTagString, v.String()), nil
	case reflect.Bool:
		return scalar(yaml.NodeTagBool, strconv.FormatBool(v.Bool())), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar(yaml.NodeTagInt, strconv.FormatInt(v.Int(), 10)), nil
	}
	return nil, fmt.Errorf("kube: cannot encode a %s", v.Type())
}

func encodeFields(m *yaml.Node, v reflect.Value) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, omitempty, inline := jsonName(f)
		if name == "-" {
			continue
		}
		fv := v.Field(i)
		if inline {
			if err := encodeFields(m, fv); err != nil {
				return err
			}
			continue
		}
		if omitempty && isEmpty(fv) {
			continue
		}
		n, err := encode(fv)
		if err != nil {
			return err
		}
		m.Content = append(m.Content, scalar(yaml.NodeTagString, name), n)
	}
	return nil
}

// jsonName reads a field's json tag the way encoding/json does; an embedded
// struct without a name is inlined.
func jsonName(f reflect.StructField) (name string, omitempty, inline bool) {
	tag := f.Tag.Get("json")
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" && f.Anonymous && f.Type.Kind() == reflect.Struct {
		return "", false, true
	}
	if name == "" {
		name = f.Name
	}
	return name, strings.Contains(","+opts+",", ",omitempty,"), false
}

// isEmpty is encoding/json's notion of empty for omitempty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

func scalar(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

// Decode reads node into out (a pointer to a value of this package's types) by
// the JSON field names. Fields the types do not declare are ignored; a value of
// the wrong shape is an error naming its path.
func Decode(node *yaml.Node, out any) error {
	d := decoder{budget: maxDecoded}
	return d.decode(node, reflect.ValueOf(out).Elem(), "")
}

// maxDecoded bounds the nodes one Decode visits: nested aliases expand
// exponentially (yaml.v3 refuses such documents for the same reason).
const maxDecoded = 100000

type decoder struct{ budget int }

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	if d.budget--; d.budget < 0 {
		return decodeErr(path, "the document expands to more than %d nodes (nested aliases?)", maxDecoded)
	}
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == yaml.NodeTagNull {
		return nil
	}
	if v.Addr().Type().Implements(unmarshalerType) {
		u := v.Addr().Interface().(json.Unmarshaler)
		if n.Kind != yaml.ScalarNode {
			return decodeErr(path, "must be a scalar")
		}
		b, _ := json.Marshal(n.Value)
		if t := n.ShortTag(); t == yaml.NodeTagInt || t == yaml.NodeTagFloat {
			b = []byte(n.Value)
		}
		if err := u.UnmarshalJSON(b); err != nil {
			return decodeErr(path, "%v", err)
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(n, v.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return decodeErr(path, "must be a mapping")
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // a YAML merge key: the mapping, or each of a list of them
				merged := []*yaml.Node{val}
				if val.Kind == yaml.SequenceNode {
					merged = val.Content
				}
				for _, m := range merged {
					if err := d.decode(m, v, path); err != nil {
						return err
					}
				}
				continue
			}
			if f, ok := fieldByName(v, k.Value); ok {
				if err := d.decode(val, f, join(path, k.Value)); err != nil {
					return err
				}
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return decodeErr(path, "must be a list")
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, el := range n.Content {
			if err := d.decode(el, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return decodeErr(path, "must be a mapping")
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			ev := reflect.New(v.Type().Elem()).Elem()
			if err := d.decode(n.Content[i+1], ev, join(path, n.Content[i].Value)); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(n.Content[i].Value).Convert(v.Type().Key()), ev)
		}
		v.Set(m)
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return decodeErr(path, "must be a scalar")
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil || n.ShortTag() != yaml.NodeTagBool {
			return decodeErr(path, "must be true or false, got %q", n.Value)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, v.Type().Bits())
		if err != nil {
			return decodeErr(path, "must be an integer, got %q", n.Value)
		}
		v.SetInt(i)
	default:
		return decodeErr(path, "cannot be decoded into a %s", v.Type())
	}
	return nil
}

// fieldByName finds the field with JSON name name, looking into inlined structs.
func fieldByName(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		n, _, inline := jsonName(t.Field(i))
		if inline {
			if f, ok := fieldByName(v.Field(i), name); ok {
				return f, true
			}
			continue
		}
		if n == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func decodeErr(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return fmt.Errorf("%s", msg)
}
