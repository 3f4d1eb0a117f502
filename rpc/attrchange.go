package rpc

import (
	"errors"
	"fmt"
)

// ApplyAttrChange applies one MsgAttrChange to a client's plain view of an
// entity's attributes (maps are map[string]any, lists []any, as DecodeAny
// produces them). It is how the Go client follows the server's changes,
// and how other clients should (docs/protocol.md).
func ApplyAttrChange(root map[string]any, op AttrOp, path []any, value any) error {
	if len(path) == 0 {
		return errors.New("empty path")
	}
	var cur any = root
	// Walk to the container that holds the changed key (for Set/Delete) or
	// to the list itself (for Append/Pop).
	walk := path[:len(path)-1]
	if op == AttrAppend || op == AttrPop {
		walk = path
	}
	for _, k := range walk {
		next, err := attrChild(cur, k)
		if err != nil {
			return err
		}
		cur = next
	}
	last := path[len(path)-1]
	switch op {
	case AttrSet:
		switch c := cur.(type) {
		case map[string]any:
			k, ok := last.(string)
			if !ok {
				return fmt.Errorf("map key %v is not a string", last)
			}
			c[k] = value
		case []any:
			i, ok := last.(int64)
			if !ok || i < 0 || int(i) >= len(c) {
				return fmt.Errorf("list index %v out of range", last)
			}
			c[i] = value
		default:
			return fmt.Errorf("cannot set in %T", cur)
		}
	case AttrDelete:
		c, ok := cur.(map[string]any)
		k, ok2 := last.(string)
		if !ok || !ok2 {
			return fmt.Errorf("cannot delete %v from %T", last, cur)
		}
		delete(c, k)
	case AttrAppend, AttrPop:
		l, ok := cur.([]any)
		if !ok {
			return fmt.Errorf("append/pop on %T", cur)
		}
		if op == AttrAppend {
			l = append(l, value)
		} else if len(l) > 0 {
			l = l[:len(l)-1]
		}
		// Store the grown or shrunk slice back into its parent.
		parent := any(root)
		for _, k := range path[:len(path)-1] {
			parent, _ = attrChild(parent, k)
		}
		switch p := parent.(type) {
		case map[string]any:
			if k, ok := last.(string); ok {
				p[k] = l
			}
		case []any:
			if i, ok := last.(int64); ok && i >= 0 && int(i) < len(p) {
				p[i] = l
			}
		}
	default:
		return fmt.Errorf("unknown op %d", op)
	}
	return nil
}

func attrChild(cur any, k any) (any, error) {
	switch c := cur.(type) {
	case map[string]any:
		s, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("map key %v is not a string", k)
		}
		v, ok := c[s]
		if !ok {
			return nil, fmt.Errorf("no key %q", s)
		}
		return v, nil
	case []any:
		i, ok := k.(int64)
		if !ok || i < 0 || int(i) >= len(c) {
			return nil, fmt.Errorf("list index %v out of range", k)
		}
		return c[i], nil
	}
	return nil, fmt.Errorf("cannot index %T with %v", cur, k)
}
