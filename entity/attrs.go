package entity

import (
	"bytes"
	"fmt"
	"math"
	"sort"

	"github.com/goworld-engine/goworld/rpc"
)

// AttrFlag says where a top-level attribute goes besides the server.
type AttrFlag uint8

// Attribute flags, combined with |. An attribute without flags lives only
// on the server (and in freeze files); it is neither synced nor saved.
const (
	// AttrOwnClient syncs the attribute to the client that owns the entity.
	AttrOwnClient AttrFlag = 1 << iota
	// AttrAllClients syncs the attribute to every client that sees the
	// entity, its owner included.
	AttrAllClients
	// AttrPersistent saves the attribute with the entity.
	AttrPersistent

	attrFlagsAll = AttrOwnClient | AttrAllClients | AttrPersistent
)

// String lists the flags, e.g. "OwnClient|Persistent".
func (f AttrFlag) String() string {
	s := ""
	for _, x := range []struct {
		f AttrFlag
		n string
	}{{AttrOwnClient, "OwnClient"}, {AttrAllClients, "AllClients"}, {AttrPersistent, "Persistent"}} {
		if f&x.f != 0 {
			if s != "" {
				s += "|"
			}
			s += x.n
		}
	}
	if s == "" {
		return "ServerOnly"
	}
	return s
}

// node is what MapAttr and ListAttr share: a place in the entity's tree.
type node struct {
	owner  *Entity // nil while detached
	parent any     // *MapAttr, *ListAttr or nil for the root
	key    any     // string in a map, int in a list
	root   string  // the top-level key this node hangs under ("" for the root)
}

func (n *node) path() []any {
	var p []any
	var cur any = n.parent
	k := n.key
	for cur != nil {
		p = append(p, k)
		switch c := cur.(type) {
		case *MapAttr:
			cur, k = c.parent, c.key
		case *ListAttr:
			cur, k = c.parent, c.key
		}
	}
	for i, j := 0, len(p)-1; i < j; i, j = i+1, j-1 {
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// MapAttr is a map of attributes: string keys, values of the kinds
// normalize accepts (nil, bool, integers as int64, floats as float64,
// string, []byte, *MapAttr, *ListAttr). An entity's root is a MapAttr;
// changes to it and to anything below it are synced and saved according to
// the flags of the top-level key they fall under. Not safe for concurrent
// use: like everything about an entity, it belongs to the game loop.
type MapAttr struct {
	node
	m map[string]any
}

// ListAttr is a list of attribute values (see MapAttr). It grows and
// shrinks at its end, so that the index of an element never changes.
type ListAttr struct {
	node
	l []any
}

// NewMapAttr returns an empty, detached map.
func NewMapAttr() *MapAttr { return &MapAttr{m: map[string]any{}} }

// NewMapAttrFrom returns a detached map holding a copy of m (see Set for
// the value kinds).
func NewMapAttrFrom(m map[string]any) *MapAttr {
	a := NewMapAttr()
	for k, v := range m {
		a.m[k] = adopt(a, k, normalize(v, 1), nil, "")
	}
	return a
}

// NewListAttr returns an empty, detached list.
func NewListAttr() *ListAttr { return &ListAttr{} }

// depthOf returns how deep container sits in its tree: 0 for a root (an
// entity's attribute map, or a detached map or list), 1 for a top-level
// attribute's value, and so on.
func depthOf(container any) int {
	d := 0
	for {
		switch c := container.(type) {
		case *MapAttr:
			container = c.parent
		case *ListAttr:
			container = c.parent
		default:
			return d
		}
		if container == nil {
			return d
		}
		d++
	}
}

// tooDeep panics for a value that would sit deeper than every receiver's
// decoder accepts.
func tooDeep() {
	panic(fmt.Sprintf("entity: attribute values nested deeper than %d levels (counting from the entity's attribute map): clients and servers could not decode them", rpc.MaxArgDepth))
}

// checkDepth panics if a normalized value placed at depth would have
// something deeper than rpc.MaxArgDepth, the nesting every decoder of an
// entity's attribute map accepts.
func checkDepth(v any, depth int) {
	if depth > rpc.MaxArgDepth {
		tooDeep()
	}
	switch c := v.(type) {
	case *MapAttr:
		for _, e := range c.m {
			checkDepth(e, depth+1)
		}
	case *ListAttr:
		for _, e := range c.l {
			checkDepth(e, depth+1)
		}
	}
}

// normalize converts v, to be placed at depth (see depthOf), to an
// attribute value, converting plain maps and slices into MapAttr and
// ListAttr. It panics on unsupported types and on values nested deeper
// than rpc.MaxArgDepth (a plain map that holds itself included): an
// attribute that cannot be synced or saved is a programming error.
func normalize(v any, depth int) any {
	if depth > rpc.MaxArgDepth {
		tooDeep()
	}
	switch x := v.(type) {
	case nil, bool, int64, float64, string:
		return x
	case *MapAttr, *ListAttr:
		checkDepth(x, depth)
		return x
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint:
		return uintToInt(uint64(x))
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return uintToInt(x)
	case float32:
		return float64(x)
	case []byte:
		return bytes.Clone(x) // keeps an empty one empty, not nil (which saves as nil)
	case map[string]any:
		m := NewMapAttr()
		for k, e := range x {
			m.m[k] = adopt(m, k, normalize(e, depth+1), nil, "")
		}
		return m
	case []any:
		l := NewListAttr()
		for i, e := range x {
			l.l = append(l.l, adopt(l, i, normalize(e, depth+1), nil, ""))
		}
		return l
	case []string:
		if len(x) > 0 && depth+1 > rpc.MaxArgDepth {
			tooDeep()
		}
		l := NewListAttr()
		for _, e := range x {
			l.l = append(l.l, e)
		}
		return l
	}
	panic(fmt.Sprintf("entity: attribute value of type %T is not supported (use bool, numbers, string, []byte, map[string]any, []any, *MapAttr, *ListAttr)", v))
}

func uintToInt(u uint64) int64 {
	if u > math.MaxInt64 {
		panic(fmt.Sprintf("entity: attribute value %d overflows int64", u))
	}
	return int64(u)
}

// adopt links v under container at key when v is a MapAttr or ListAttr,
// giving its subtree the owner and root key; other values pass through. A
// container that already has a place panics: one value, one place.
func adopt(container any, key any, v any, owner *Entity, root string) any {
	var n *node
	switch c := v.(type) {
	case *MapAttr:
		n = &c.node
	case *ListAttr:
		n = &c.node
	default:
		return v
	}
	if n.parent != nil || n.owner != nil {
		panic("entity: a MapAttr or ListAttr can only be in one place; copy it with ToMap or ToList")
	}
	for c := container; c != nil; {
		if sameNode(c, v) {
			panic("entity: a MapAttr or ListAttr cannot be placed inside itself")
		}
		switch x := c.(type) {
		case *MapAttr:
			c = x.parent
		case *ListAttr:
			c = x.parent
		default:
			c = nil
		}
	}
	n.parent, n.key = container, key
	setOwner(v, owner, root)
	return v
}

// sameNode reports whether a and b are the same MapAttr or ListAttr.
func sameNode(a, b any) bool {
	switch x := a.(type) {
	case *MapAttr:
		y, ok := b.(*MapAttr)
		return ok && x == y
	case *ListAttr:
		y, ok := b.(*ListAttr)
		return ok && x == y
	}
	return false
}

// setOwner sets owner and root key on a subtree.
func setOwner(v any, owner *Entity, root string) {
	switch c := v.(type) {
	case *MapAttr:
		c.owner, c.root = owner, root
		for _, e := range c.m {
			setOwner(e, owner, root)
		}
	case *ListAttr:
		c.owner, c.root = owner, root
		for _, e := range c.l {
			setOwner(e, owner, root)
		}
	}
}

func detach(v any) {
	switch c := v.(type) {
	case *MapAttr:
		c.parent, c.key = nil, nil
		setOwner(c, nil, "")
	case *ListAttr:
		c.parent, c.key = nil, nil
		setOwner(c, nil, "")
	}
}

// plain converts an attribute value to plain Go values (maps and slices).
func plain(v any) any {
	switch c := v.(type) {
	case *MapAttr:
		return c.ToMap()
	case *ListAttr:
		return c.ToList()
	case []byte:
		return bytes.Clone(c)
	}
	return v
}

func (n *node) changed(op rpc.AttrOp, path []any, value any) {
	if n.owner != nil {
		n.owner.attrChanged(n.root, op, path, value)
	}
}

// Set sets key to v (see MapAttr for the value kinds). Plain maps and
// slices are copied into new MapAttr and ListAttr values.
func (a *MapAttr) Set(key string, v any) {
	if a.parent == nil && a.owner != nil {
		// Top-level keys name the flags that apply below them.
		a.owner.typ.checkAttr(key)
	}
	v = normalize(v, depthOf(a)+1)
	root := a.root
	if a.parent == nil {
		root = key
	}
	old, had := a.m[key]
	if !had || !sameNode(old, v) {
		// adopt first: if v cannot go here it panics with nothing changed.
		v = adopt(a, key, v, a.owner, root)
		if had {
			detach(old)
		}
	}
	a.m[key] = v
	if a.owner != nil {
		a.owner.attrChanged(root, rpc.AttrSet, append(a.path(), key), v)
	}
}

// Delete removes key.
func (a *MapAttr) Delete(key string) {
	old, ok := a.m[key]
	if !ok {
		return
	}
	detach(old)
	delete(a.m, key)
	root := a.root
	if a.parent == nil {
		root = key
	}
	if a.owner != nil {
		a.owner.attrChanged(root, rpc.AttrDelete, append(a.path(), key), nil)
	}
}

// Get returns the value at key, or nil.
func (a *MapAttr) Get(key string) any { return a.m[key] }

// Has reports whether key is set.
func (a *MapAttr) Has(key string) bool { _, ok := a.m[key]; return ok }

// Len returns the number of keys.
func (a *MapAttr) Len() int { return len(a.m) }

// Keys returns the keys in sorted order.
func (a *MapAttr) Keys() []string {
	ks := make([]string, 0, len(a.m))
	for k := range a.m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// GetInt returns the integer at key (0 if absent or not a number).
func (a *MapAttr) GetInt(key string) int64 { return toInt(a.m[key]) }

// GetFloat returns the number at key as float64 (0 if absent).
func (a *MapAttr) GetFloat(key string) float64 { return toFloat(a.m[key]) }

// GetString returns the string at key ("" if absent or not a string).
func (a *MapAttr) GetString(key string) string { s, _ := a.m[key].(string); return s }

// GetBool returns the bool at key (false if absent).
func (a *MapAttr) GetBool(key string) bool { b, _ := a.m[key].(bool); return b }

// GetMap returns the map at key, or nil.
func (a *MapAttr) GetMap(key string) *MapAttr { m, _ := a.m[key].(*MapAttr); return m }

// GetList returns the list at key, or nil.
func (a *MapAttr) GetList(key string) *ListAttr { l, _ := a.m[key].(*ListAttr); return l }

// ToMap returns a deep copy as plain Go values.
func (a *MapAttr) ToMap() map[string]any {
	out := make(map[string]any, len(a.m))
	for k, v := range a.m {
		out[k] = plain(v)
	}
	return out
}

// Append adds v at the end of the list.
func (l *ListAttr) Append(v any) {
	v = normalize(v, depthOf(l)+1)
	i := len(l.l)
	l.l = append(l.l, adopt(l, i, v, l.owner, l.root))
	l.changed(rpc.AttrAppend, l.path(), v)
}

// Pop removes and returns the last element (nil if empty).
func (l *ListAttr) Pop() any {
	if len(l.l) == 0 {
		return nil
	}
	v := l.l[len(l.l)-1]
	l.l[len(l.l)-1] = nil
	l.l = l.l[:len(l.l)-1]
	detach(v)
	l.changed(rpc.AttrPop, l.path(), nil)
	return plain(v)
}

// Set replaces element i; it panics if i is out of range.
func (l *ListAttr) Set(i int, v any) {
	if i < 0 || i >= len(l.l) {
		panic(fmt.Sprintf("entity: list index %d out of range [0,%d)", i, len(l.l)))
	}
	v = normalize(v, depthOf(l)+1)
	if old := l.l[i]; !sameNode(old, v) {
		v = adopt(l, i, v, l.owner, l.root) // panics with nothing changed
		detach(old)
	}
	l.l[i] = v
	l.changed(rpc.AttrSet, append(l.path(), i), v)
}

// Get returns element i; it panics if i is out of range.
func (l *ListAttr) Get(i int) any { return l.l[i] }

// Len returns the number of elements.
func (l *ListAttr) Len() int { return len(l.l) }

// GetInt returns element i as an integer.
func (l *ListAttr) GetInt(i int) int64 { return toInt(l.l[i]) }

// GetString returns element i as a string.
func (l *ListAttr) GetString(i int) string { s, _ := l.l[i].(string); return s }

// GetMap returns element i as a map, or nil.
func (l *ListAttr) GetMap(i int) *MapAttr { m, _ := l.l[i].(*MapAttr); return m }

// ToList returns a deep copy as plain Go values.
func (l *ListAttr) ToList() []any {
	out := make([]any, len(l.l))
	for i, v := range l.l {
		out[i] = plain(v)
	}
	return out
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}
