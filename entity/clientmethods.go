package entity

import (
	"fmt"
	"go/token"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// Declared client methods: the methods the server calls on a type's
// clients (CallClient, and broadcasts to players), with their parameter
// types, declared in DescribeEntityType with DefineClientMethod.
//
// A type that declares none is not checked (games written before the
// declarations keep working). Once a type declares one, every CallClient
// on its entities must name a declared method with arguments that
// convert to its parameter types, as the client's typed stub will
// convert them (rpc.DecodeArgs: an int64 that fits an int32, and so on).
// A call that does not is a contract error where it is called: logged as
// an error, counted (World.ClientCallErrors, which the test kit fails a
// test on) and not sent. Broadcasts (CallAllClients, CallFilteredClients)
// reach the player entity of each client, whatever its type, which the
// game does not know when it sends: once any type declares client
// methods, a broadcast's method must be declared by at least one type,
// and its arguments must fit that declaration (one of them, if several
// types declare it).

// ClientMethodDef is a client method being declared (see
// TypeDesc.DefineClientMethod).
type ClientMethodDef struct {
	desc *TypeDesc
	name string
}

// clientMethodDecl is what DescribeEntityType declared for one client
// method, validated by Register.
type clientMethodDecl struct {
	params []any
	names  []string
}

// DefineClientMethod declares a method the server calls on this type's
// clients (CallClient), with its parameters' types, each given by a
// sample value of the type (its zero value: "", int64(0), []string(nil),
// a struct value, nil for any) or a reflect.Type:
//
//	desc.DefineClientMethod("OnChat", "", "", "").Names("room", "name", "text")
//
// Declaring one makes the type's client calls checked (see the package
// documentation above: an undeclared method or mismatched arguments is
// an error, counted and not sent), and `goworldctl gen` writes typed
// handlers for the clients from the declarations. Chain Names to name
// the parameters in the stubs (default arg0, arg1, ...).
func (d *TypeDesc) DefineClientMethod(name string, params ...any) *ClientMethodDef {
	if d.clientMethods == nil {
		d.clientMethods = map[string]*clientMethodDecl{}
	}
	if _, dup := d.clientMethods[name]; dup {
		d.clientDups = append(d.clientDups, name)
	}
	d.clientMethods[name] = &clientMethodDecl{params: params}
	return &ClientMethodDef{desc: d, name: name}
}

// Names names the method's parameters, for generated stubs: one Go-style
// identifier per parameter.
func (c *ClientMethodDef) Names(names ...string) *ClientMethodDef {
	c.desc.clientMethods[c.name].names = names
	return c
}

// clientMethod is a validated client method declaration.
type clientMethod struct {
	name   string
	params []reflect.Type
	names  []string // one per parameter ("" where not named)
}

var anyType = reflect.TypeFor[any]()

// sampleType returns the type a declaration's sample stands for.
func sampleType(s any) reflect.Type {
	switch x := s.(type) {
	case nil:
		return anyType
	case reflect.Type:
		return x
	}
	return reflect.TypeOf(s)
}

// validateClientMethods checks desc's client method declarations and
// returns them, with the problems found.
func validateClientMethods(desc *TypeDesc) (map[string]*clientMethod, []string) {
	var problems []string
	for _, n := range desc.clientDups {
		problems = append(problems, fmt.Sprintf("client method %s declared twice", clip.Name(n)))
	}
	if len(desc.clientMethods) == 0 {
		return nil, problems
	}
	out := make(map[string]*clientMethod, len(desc.clientMethods))
	for name, decl := range desc.clientMethods {
		if !token.IsIdentifier(name) || len(name) > rpc.MaxMethodNameLen {
			problems = append(problems, fmt.Sprintf("client method %s: the name must be a Go-style identifier of at most %d bytes", clip.Name(name), rpc.MaxMethodNameLen))
			continue
		}
		cm := &clientMethod{name: name, params: make([]reflect.Type, len(decl.params)), names: make([]string, len(decl.params))}
		ok := true
		for i, s := range decl.params {
			t := sampleType(s)
			if err := rpc.CheckParamType(t); err != nil {
				problems = append(problems, fmt.Sprintf("client method %s: parameter %d: %v", name, i, err))
				ok = false
				continue
			}
			if t.Kind() == reflect.Map && t.Key().Kind() != reflect.String {
				problems = append(problems, fmt.Sprintf("client method %s: parameter %d: %s: clients accept only string map keys", name, i, t))
				ok = false
			}
			cm.params[i] = t
		}
		if decl.names != nil {
			seen := map[string]bool{}
			if len(decl.names) != len(decl.params) {
				problems = append(problems, fmt.Sprintf("client method %s: %d names for %d parameters", name, len(decl.names), len(decl.params)))
				ok = false
			}
			for _, n := range decl.names {
				if !token.IsIdentifier(n) || seen[n] {
					problems = append(problems, fmt.Sprintf("client method %s: parameter name %s is not a distinct identifier", name, clip.Name(n)))
					ok = false
				}
				seen[n] = true
			}
			if ok {
				copy(cm.names, decl.names)
			}
		}
		if ok {
			out[name] = cm
		}
	}
	return out, problems
}

// clientCallErrors counts calls to clients that broke their type's
// declarations (see DefineClientMethod) and keeps the last one's
// message. It is safe for concurrent use: a test reads it while the
// game loop runs.
type clientCallErrors struct {
	n    atomic.Uint64
	mu   sync.Mutex
	last string
}

// ClientCallErrors returns how many calls to clients this world refused
// because they broke the declared client methods (an undeclared method,
// arguments that do not convert), and the last one's message. It may be
// called from any goroutine (the test kit reads it while the game runs).
func (w *World) ClientCallErrors() (n uint64, last string) {
	w.clientErrs.mu.Lock()
	defer w.clientErrs.mu.Unlock()
	return w.clientErrs.n.Load(), w.clientErrs.last
}

// clientCallError logs and counts a refused client call.
func (w *World) clientCallError(msg string) {
	w.clientErrs.mu.Lock()
	w.clientErrs.last = msg
	w.clientErrs.n.Add(1)
	w.clientErrs.mu.Unlock()
	w.lines.Logf(w.log, logrus.ErrorLevel, "client call refused", "%s", msg)
}

// checkClientCall checks a call of method with the encoded args (a
// msgpack array) against t's declared client methods, or, for a
// broadcast (t nil), against every type's. It returns the error's
// message, or "" if the call may go.
func (w *World) checkClientCall(t *entityType, method string, args []byte) string {
	if t != nil {
		if len(t.clientMethods) == 0 {
			return ""
		}
		cm, ok := t.clientMethods[method]
		if !ok {
			return fmt.Sprintf("%s.CallClient(%s): %s declares no such client method (DefineClientMethod); not sent", t.name, clip.Name(method), t.name)
		}
		if _, err := rpc.DecodeArgs(args, cm.params); err != nil {
			return fmt.Sprintf("%s.CallClient(%s): the arguments do not fit the declaration %s: %v; not sent", t.name, clip.Name(method), cm.signature(), err)
		}
		return ""
	}
	decls := w.reg.clientDecls[method]
	if len(decls) == 0 {
		if w.reg.anyClientMethods {
			return fmt.Sprintf("broadcast %s: no entity type declares that client method (DefineClientMethod); not sent", clip.Name(method))
		}
		return ""
	}
	var first error
	for _, cm := range decls {
		_, err := rpc.DecodeArgs(args, cm.params)
		if err == nil {
			return ""
		}
		if first == nil {
			first = err
		}
	}
	return fmt.Sprintf("broadcast %s: the arguments do not fit the declaration %s: %v; not sent", clip.Name(method), decls[0].signature(), first)
}

// signature spells the declaration as Go: OnChat(room string, ...).
func (cm *clientMethod) signature() string {
	s := cm.name + "("
	for i, p := range cm.params {
		if i > 0 {
			s += ", "
		}
		if cm.names[i] != "" {
			s += cm.names[i] + " "
		}
		s += p.String()
	}
	return s + ")"
}

// indexClientMethods records t's client methods in the registry's
// index of every type's, for broadcasts.
func (r *Registry) indexClientMethods(t *entityType) {
	if len(t.clientMethods) == 0 {
		return
	}
	r.anyClientMethods = true
	if r.clientDecls == nil {
		r.clientDecls = map[string][]*clientMethod{}
	}
	names := make([]string, 0, len(t.clientMethods))
	for n := range t.clientMethods {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r.clientDecls[n] = append(r.clientDecls[n], t.clientMethods[n])
	}
}
