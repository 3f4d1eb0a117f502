package entity

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// The registry's description: what a game's clients can see of its
// types, as data (Registry.Describe), which the game binary prints as
// JSON (`mygame -print-registry`) and `goworldctl gen` turns into typed
// client stubs. docs/stubs.md documents the schema.

// RegistrySchema is the version of RegistryInfo's JSON schema. It
// changes when a field changes meaning or goes away (a new field does
// not change it); readers refuse a version they do not know.
const RegistrySchema = 1

// RegistryInfo describes a registry: its entity types and the struct
// types their methods and attributes use, each sorted by name.
type RegistryInfo struct {
	Schema  int              `json:"schema"`
	Types   []EntityTypeInfo `json:"types"`
	Structs []StructInfo     `json:"structs,omitempty"`
}

// EntityTypeInfo describes one entity type.
type EntityTypeInfo struct {
	Name       string `json:"name"`
	GoType     string `json:"goType"` // the Go struct, package.Name
	Persistent bool   `json:"persistent,omitempty"`
	Space      bool   `json:"space,omitempty"`
	// Shards is the number of shards of a service, 0 for other types.
	Shards int        `json:"shards,omitempty"`
	Attrs  []AttrInfo `json:"attrs,omitempty"`
	// Methods are the methods clients may call (ExposeToClient,
	// ExposeToAllClients).
	Methods []MethodInfo `json:"methods,omitempty"`
	// ClientMethods are the declared client methods (DefineClientMethod).
	ClientMethods []MethodInfo `json:"clientMethods,omitempty"`
}

// AttrInfo describes an attribute. Flags lists "ownClient",
// "allClients" and "persistent", as declared; Type is nil when the type
// declares none (AttrDef.Type or Default).
type AttrInfo struct {
	Name  string     `json:"name"`
	Flags []string   `json:"flags"`
	Type  *ValueType `json:"type,omitempty"`
}

// MethodInfo describes a method. For a method clients call, Exposed is
// "owner" (ExposeToClient) or "all" (ExposeToAllClients), and Result is
// the type of T for a method that returns (T, error), nil otherwise
// (the answer is then null).
type MethodInfo struct {
	Name    string      `json:"name"`
	Exposed string      `json:"exposed,omitempty"`
	Params  []ParamInfo `json:"params"`
	Result  *ValueType  `json:"result,omitempty"`
}

// ParamInfo is a parameter: its name ("" where unknown: Go's reflection
// does not keep the names of a method's parameters) and type.
type ParamInfo struct {
	Name string    `json:"name,omitempty"`
	Type ValueType `json:"type"`
}

// ValueType describes a value's type as it travels. Kind is one of
// bool, int, uint, float, string, bytes, list, map, struct, any; Go is
// the Go spelling (int32, []string, a struct's name); Bits the size of
// an int, uint or float (64 for int and uint); Elem a list's element or
// a map's value; Key a map's key type unless it is string (clients send
// only string keys); Name a struct's entry in
// RegistryInfo.Structs; Nullable a pointer (nil travels as null).
type ValueType struct {
	Kind     string     `json:"kind"`
	Go       string     `json:"go"`
	Bits     int        `json:"bits,omitempty"`
	Elem     *ValueType `json:"elem,omitempty"`
	Key      *ValueType `json:"key,omitempty"`
	Name     string     `json:"name,omitempty"`
	Nullable bool       `json:"nullable,omitempty"`
}

// StructInfo is a struct type, as it travels: a map of its exported
// fields, each under its wire name (the msgpack tag, or the field name).
type StructInfo struct {
	Name   string      `json:"name"`
	Go     string      `json:"go"`
	Fields []FieldInfo `json:"fields"`
}

// FieldInfo is a field of a struct: its wire name, Go name and type;
// Optional for a field left out when empty (msgpack's omitempty).
type FieldInfo struct {
	Name     string    `json:"name"`
	GoName   string    `json:"goName"`
	Type     ValueType `json:"type"`
	Optional bool      `json:"optional,omitempty"`
}

// Describe returns the registry's description, sorted so that the same
// registry always gives the same description.
func (r *Registry) Describe() RegistryInfo {
	d := describer{structs: map[reflect.Type]string{}, used: map[string]bool{}}
	info := RegistryInfo{Schema: RegistrySchema, Types: []EntityTypeInfo{}}
	for _, name := range r.Names() {
		t := r.types[name]
		ti := EntityTypeInfo{Name: name, GoType: t.typ.String(), Persistent: t.persistent, Space: t.isSpace}
		if t.service != nil {
			ti.Shards = t.service.shards
		}
		for _, a := range sortedKeys(t.attrs) {
			f := t.attrs[a]
			ai := AttrInfo{Name: a, Flags: []string{}}
			if f&AttrOwnClient != 0 {
				ai.Flags = append(ai.Flags, "ownClient")
			}
			if f&AttrAllClients != 0 {
				ai.Flags = append(ai.Flags, "allClients")
			}
			if f&AttrPersistent != 0 {
				ai.Flags = append(ai.Flags, "persistent")
			}
			if at, ok := t.attrTypes[a]; ok {
				ti := d.typ(at)
				ai.Type = &ti
			}
			ti.Attrs = append(ti.Attrs, ai)
		}
		for _, m := range sortedKeys(t.methods) {
			mt := t.methods[m]
			if mt.exposed == 0 {
				continue
			}
			mi := MethodInfo{Name: m, Exposed: "owner", Params: []ParamInfo{}}
			if mt.exposed&exposePublic != 0 {
				mi.Exposed = "all"
			}
			for _, p := range mt.params {
				mi.Params = append(mi.Params, ParamInfo{Type: d.typ(p)})
			}
			if mt.result != nil {
				rt := d.typ(mt.result)
				mi.Result = &rt
			}
			ti.Methods = append(ti.Methods, mi)
		}
		for _, m := range sortedKeys(t.clientMethods) {
			cm := t.clientMethods[m]
			mi := MethodInfo{Name: m, Params: []ParamInfo{}}
			for i, p := range cm.params {
				mi.Params = append(mi.Params, ParamInfo{Name: cm.names[i], Type: d.typ(p)})
			}
			ti.ClientMethods = append(ti.ClientMethods, mi)
		}
		info.Types = append(info.Types, ti)
	}
	// Structs met while describing (and those their fields use).
	for len(d.queue) > 0 {
		st := d.queue[0]
		d.queue = d.queue[1:]
		si := StructInfo{Name: d.structs[st], Go: st.String(), Fields: []FieldInfo{}}
		for i := 0; i < st.NumField(); i++ {
			f := st.Field(i)
			wire, omit, ok := wireName(f)
			if !ok {
				continue
			}
			si.Fields = append(si.Fields, FieldInfo{Name: wire, GoName: f.Name, Type: d.typ(f.Type), Optional: omit})
		}
		info.Structs = append(info.Structs, si)
	}
	sort.Slice(info.Structs, func(i, j int) bool { return info.Structs[i].Name < info.Structs[j].Name })
	return info
}

// wireName returns a struct field's name on the wire, as rpc encodes
// and decodes structs (the msgpack tag's name, or the field's), whether
// it is left out when empty (omitempty), and whether it travels at all.
func wireName(f reflect.StructField) (name string, omit, ok bool) {
	if !f.IsExported() {
		return "", false, false
	}
	name = f.Name
	if tag, ok := f.Tag.Lookup("msgpack"); ok {
		if tag == "-" {
			return "", false, false
		}
		opts := ""
		if i := strings.IndexByte(tag, ','); i >= 0 {
			tag, opts = tag[:i], tag[i:]
		}
		if tag != "" {
			name = tag
		}
		omit = strings.Contains(opts+",", ",omitempty,")
	}
	return name, omit, true
}

type describer struct {
	structs map[reflect.Type]string // named so far
	used    map[string]bool         // struct names taken
	queue   []reflect.Type          // structs to describe
}

func (d *describer) typ(t reflect.Type) ValueType {
	if t.Kind() == reflect.Pointer {
		e := d.typ(t.Elem())
		e.Nullable = true
		e.Go = "*" + e.Go
		return e
	}
	ti := ValueType{Go: t.Kind().String()} // named types travel as their kind
	switch t.Kind() {
	case reflect.Bool:
		ti.Kind = "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		ti.Kind, ti.Bits = "int", t.Bits()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		ti.Kind, ti.Bits = "uint", t.Bits()
	case reflect.Float32, reflect.Float64:
		ti.Kind, ti.Bits = "float", t.Bits()
	case reflect.String:
		ti.Kind = "string"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			ti.Kind = "bytes"
			ti.Go = "[]byte"
			break
		}
		ti.Kind = "list"
		e := d.typ(t.Elem())
		ti.Elem = &e
		ti.Go = "[]" + e.Go
	case reflect.Map:
		ti.Kind = "map"
		e := d.typ(t.Elem())
		ti.Elem = &e
		k := d.typ(t.Key())
		if k.Kind != "string" {
			ti.Key = &k
		}
		ti.Go = "map[" + k.Go + "]" + e.Go
	case reflect.Struct:
		ti.Kind = "struct"
		ti.Name = d.structName(t)
		ti.Go = ti.Name
	default: // interfaces: any value
		ti.Kind = "any"
		ti.Go = "any"
	}
	return ti
}

// structName names a struct type: its Go name, made unique (Point,
// Point2, ...), or Struct1, Struct2, ... for an unnamed struct.
func (d *describer) structName(t reflect.Type) string {
	if n, ok := d.structs[t]; ok {
		return n
	}
	base, name := t.Name(), t.Name()
	if base == "" {
		base, name = "Struct", "Struct1"
	}
	for i := 2; d.used[name]; i++ {
		name = fmt.Sprintf("%s%d", base, i)
	}
	d.used[name] = true
	d.structs[t] = name
	d.queue = append(d.queue, t)
	return name
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
