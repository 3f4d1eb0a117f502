package entity

import (
	"errors"
	"fmt"
	"go/token"
	"math"
	"reflect"
	"sort"
	"strings"

	"github.com/goworld-engine/goworld/rpc"
)

// Describer is implemented by entity types that declare attributes,
// persistence and client-callable methods. Register calls
// DescribeEntityType once, on a zero value, and validates what it declares.
type Describer interface {
	DescribeEntityType(desc *TypeDesc)
}

// Hooks an entity type may implement. They run on the game loop.
type (
	// Creator: OnCreated runs once the entity exists, its attributes set
	// (from the creator or from storage).
	Creator interface{ OnCreated() }
	// Destroyer: OnDestroy runs when Destroy is called, before the entity
	// is saved for the last time and removed.
	Destroyer interface{ OnDestroy() }
	// ClientConnector: OnClientConnected runs when a client is bound to
	// the entity (a new connection for a boot entity, or GiveClientTo).
	ClientConnector interface{ OnClientConnected() }
	// ClientDisconnector: OnClientDisconnected runs when the entity's
	// client goes away or is given to another entity.
	ClientDisconnector interface{ OnClientDisconnected() }
	// ClientAwayer: OnClientAway runs when the entity's client, in a
	// resumable session, lost its connection without quitting: the gate
	// holds the session for resume_window, keeping what is sent to the
	// client, and the client stays bound. OnClientDisconnected follows if
	// it does not come back in time.
	ClientAwayer interface{ OnClientAway() }
	// ClientReturner: OnClientBack runs when the entity's client resumed
	// its session after OnClientAway: it has received everything sent
	// meanwhile.
	ClientReturner interface{ OnClientBack() }
	// Freezer: OnFreeze runs before a hot reload writes the entity to the
	// freeze file. Attributes, timers and the client binding survive a
	// reload; plain struct fields do not, so save what matters into
	// (server-only) attributes here. A panic aborts the reload.
	Freezer interface{ OnFreeze() }
	// Restorer: OnRestore runs after a hot reload rebuilt the entity (all
	// entities exist by then), instead of OnCreated.
	Restorer interface{ OnRestore() }
)

// TypeDesc collects what an entity type declares in DescribeEntityType.
type TypeDesc struct {
	persistent bool
	attrs      map[string]AttrFlag
	defaults   map[string]any
	exposed    map[string]exposure
	order      []string // declaration order of exposed names, for errors
	isSpace    bool
	cellSize   float64
	aoiRadius  float64
	aoiSet     bool
	// clientMethods: DefineClientMethod's declarations; clientDups the
	// names declared twice.
	clientMethods map[string]*clientMethodDecl
	clientDups    []string
	// attrTypes: AttrDef.Type's samples, by attribute.
	attrTypes map[string]any
}

// DefineSpace makes entities of this type spaces: other entities enter
// them, move in them and see each other within their AOI radius.
// cellSize is the AOI grid's cell size, best about the usual AOI radius
// (0: 100). A space is created like any entity (CreateSpaceLocally,
// CreateSpaceSomewhere, CreateSpaceOnGame).
func (d *TypeDesc) DefineSpace(cellSize float64) {
	d.isSpace = true
	d.cellSize = cellSize
}

// SetAOIRadius sets how far entities of this type see in a space (their
// area of interest): others within radius on the x/z plane enter it.
// The default, 0, sees nothing (the entity is still seen by others).
// Players' types set it; so do NPCs that react to who comes near.
func (d *TypeDesc) SetAOIRadius(radius float64) {
	d.aoiRadius = radius
	d.aoiSet = true
}

type exposure uint8

const (
	exposeOwner  exposure = 1 // callable by the client that owns the entity
	exposePublic exposure = 2 // callable by any client
)

// SetPersistent makes entities of this type persistent: attributes flagged
// AttrPersistent are saved on an interval and when the entity is destroyed,
// and the entity can be loaded by ID.
func (d *TypeDesc) SetPersistent(p bool) { d.persistent = p }

// DefineAttr declares a top-level attribute and its flags. Setting an
// undeclared top-level attribute is an error (it panics at the Set), so
// that a typo cannot silently turn a synced or saved attribute into a
// server-only one. Chain Default to give it a value that every entity
// without one gets: when created, loaded, or restored after a hot reload
// (so an attribute added in a new build gets its default).
func (d *TypeDesc) DefineAttr(name string, flags AttrFlag) *AttrDef {
	if d.attrs == nil {
		d.attrs = map[string]AttrFlag{}
	}
	if _, dup := d.attrs[name]; dup {
		d.attrs["\x00dup:"+name] = 0
	}
	d.attrs[name] = flags
	return &AttrDef{desc: d, name: name}
}

// AttrDef is an attribute being declared.
type AttrDef struct {
	desc *TypeDesc
	name string
}

// Default sets the attribute's default value (any attribute value: a
// number, string, map[string]any, []any ...). It is copied into each
// entity that lacks the attribute.
func (a *AttrDef) Default(v any) *AttrDef {
	if a.desc.defaults == nil {
		a.desc.defaults = map[string]any{}
	}
	a.desc.defaults[a.name] = v
	return a
}

// Type declares the type of the attribute's values, by a sample value
// of the type (its zero value: "", int64(0), map[string]any(nil), a
// struct value) or a reflect.Type, for the stubs `goworldctl gen`
// writes (clients see the attribute typed). It is not checked when the
// attribute is set. Without it, or a Default to take the type from,
// stubs type the attribute as any value.
func (a *AttrDef) Type(sample any) *AttrDef {
	if a.desc.attrTypes == nil {
		a.desc.attrTypes = map[string]any{}
	}
	a.desc.attrTypes[a.name] = sample
	return a
}

// ExposeToClient lets the client that owns an entity call these methods on
// it. Other clients cannot.
func (d *TypeDesc) ExposeToClient(methods ...string) { d.expose(exposeOwner, methods) }

// ExposeToAllClients lets any client call these methods, on any entity of
// this type. Use it sparingly: the method must check its arguments itself.
func (d *TypeDesc) ExposeToAllClients(methods ...string) { d.expose(exposePublic, methods) }

func (d *TypeDesc) expose(e exposure, methods []string) {
	if d.exposed == nil {
		d.exposed = map[string]exposure{}
	}
	for _, m := range methods {
		d.exposed[m] |= e
		d.order = append(d.order, m)
	}
}

// method is one callable method of an entity type.
type method struct {
	name    string
	index   int // in the pointer type's method set
	params  []reflect.Type
	exposed exposure
	answer  answer       // what it returns (see request.go)
	result  reflect.Type // T of a method that returns (T, error)
}

// entityType is a registered, validated entity type.
type entityType struct {
	name       string
	typ        reflect.Type // the struct type
	field      []int        // index of the embedded Entity
	persistent bool
	attrs      map[string]AttrFlag
	defaults   map[string]any // plain values, copied into each entity lacking the key
	methods    map[string]*method
	// loadCallbacks: methods func(rpc.EntityID, error), by name, with
	// their index in the pointer type's method set (see
	// Entity.LoadEntitySomewhere).
	loadCallbacks map[string]int
	// replyCallbacks: methods func(T, error) and func(error), by name,
	// which a request's answer can be delivered to (Entity.Request).
	replyCallbacks map[string]replyCallback
	isSpace        bool
	cellSize       float64
	aoiRadius      float64
	// service is set for services (Registry.RegisterService).
	service *serviceDesc
	// watchesGames: the type implements GameWatcher.
	watchesGames bool
	// entersAOI, leavesAOI: the type implements AOIEnterer, AOILeaver
	// (asked once here, not at each of the many AOI changes).
	entersAOI, leavesAOI bool
	// clientMethods: the declared client methods (nil: none declared,
	// calls to clients are not checked; see clientmethods.go).
	clientMethods map[string]*clientMethod
	// attrTypes: the declared types of attributes (AttrDef.Type, or a
	// Default's), for the registry's description.
	attrTypes map[string]reflect.Type
}

// checkAttr panics for an undeclared top-level attribute.
func (t *entityType) checkAttr(key string) {
	if _, ok := t.attrs[key]; !ok {
		panic(fmt.Sprintf("entity: %s has no attribute %q (declare it with DefineAttr in DescribeEntityType)", t.name, key))
	}
}

// Registry holds the entity types of a game. Register every type before
// the game starts; a Registry is not safe for concurrent registration.
type Registry struct {
	types map[string]*entityType
	ready []func(*World) // OnGameReady hooks
	// clientDecls: every type's declared client methods, by name, for
	// broadcasts; anyClientMethods: some type declared one.
	clientDecls      map[string][]*clientMethod
	anyClientMethods bool
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{types: map[string]*entityType{}} }

// Has reports whether a type of that name is registered.
func (r *Registry) Has(name string) bool { _, ok := r.types[name]; return ok }

// Names returns the registered type names, sorted.
func (r *Registry) Names() []string {
	ns := make([]string, 0, len(r.types))
	for n := range r.types {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

var (
	entityPtrType = reflect.TypeFor[*Entity]()
	entityType_   = reflect.TypeFor[Entity]()
	// hookNames are methods with engine meaning, never callable as RPC.
	hookNames = map[string]bool{
		"DescribeEntityType": true, "OnCreated": true, "OnDestroy": true,
		"OnClientConnected": true, "OnClientDisconnected": true, "OnClientAway": true, "OnClientBack": true,
		"OnFreeze": true, "OnRestore": true,
		"OnEnterAOI": true, "OnLeaveAOI": true, "OnEnterSpace": true, "OnLeaveSpace": true,
		"OnEntityEnter": true, "OnEntityLeave": true, "OnGameGone": true,
	}
)

// ErrRegister is wrapped by every registration error.
var ErrRegister = errors.New("entity: cannot register type")

// Register adds an entity type under name. proto is a pointer to the
// user's struct (e.g. &Avatar{}), which must embed entity.Entity by value.
// Register validates everything it can and returns an error naming the
// problem: a duplicate name, a missing embedded Entity, an exposed method
// that does not exist or returns values, a parameter type that cannot
// travel as msgpack, an attribute with unknown flags.
func (r *Registry) Register(name string, proto any) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrRegister, name, fmt.Sprintf(format, args...))
	}
	if !token.IsIdentifier(name) {
		return fail("the name must be a Go-style identifier")
	}
	if len(name) > rpc.MaxMethodNameLen {
		return fail("the name is %d bytes; type names are at most %d (rpc.MaxMethodNameLen)", len(name), rpc.MaxMethodNameLen)
	}
	if _, dup := r.types[name]; dup {
		return fail("a type of that name is already registered")
	}
	pt := reflect.TypeOf(proto)
	if pt == nil || pt.Kind() != reflect.Pointer || pt.Elem().Kind() != reflect.Struct {
		return fail("want a pointer to a struct that embeds entity.Entity, got %T", proto)
	}
	st := pt.Elem()
	f, ok := st.FieldByName("Entity")
	if !ok || f.Type != entityType_ || !f.Anonymous || len(f.Index) != 1 {
		return fail("%s must embed entity.Entity (by value, as its own field)", st)
	}
	t := &entityType{name: name, typ: st, field: f.Index, attrs: map[string]AttrFlag{}, methods: map[string]*method{}}

	var desc TypeDesc
	if d, ok := reflect.New(st).Interface().(Describer); ok {
		d.DescribeEntityType(&desc)
	}
	t.persistent = desc.persistent
	_, t.watchesGames = reflect.New(st).Interface().(GameWatcher)
	_, t.entersAOI = reflect.New(st).Interface().(AOIEnterer)
	_, t.leavesAOI = reflect.New(st).Interface().(AOILeaver)
	t.isSpace, t.cellSize, t.aoiRadius = desc.isSpace, desc.cellSize, desc.aoiRadius
	var problems []string
	if desc.isSpace && (math.IsNaN(desc.cellSize) || math.IsInf(desc.cellSize, 0) || desc.cellSize < 0) {
		problems = append(problems, fmt.Sprintf("space cell size %v must be a finite number >= 0", desc.cellSize))
	}
	if desc.isSpace && t.cellSize == 0 {
		t.cellSize = 100
	}
	if math.IsNaN(desc.aoiRadius) || math.IsInf(desc.aoiRadius, 0) || desc.aoiRadius < 0 {
		problems = append(problems, fmt.Sprintf("AOI radius %v must be a finite number >= 0", desc.aoiRadius))
	}
	if desc.isSpace && desc.aoiSet {
		problems = append(problems, "a space cannot have an AOI radius: spaces do not enter spaces")
	}
	for a, v := range desc.defaults {
		if _, ok := desc.attrs[a]; !ok {
			continue
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					problems = append(problems, fmt.Sprintf("attribute %q: bad default: %v", a, p))
				}
			}()
			if t.defaults == nil {
				t.defaults = map[string]any{}
			}
			t.defaults[a] = plain(normalize(v, 1))
		}()
	}
	for a, flags := range desc.attrs {
		if strings.HasPrefix(a, "\x00dup:") {
			problems = append(problems, fmt.Sprintf("attribute %q defined twice", a[len("\x00dup:"):]))
			continue
		}
		if a == "" {
			problems = append(problems, "an attribute has an empty name")
		}
		if flags&^attrFlagsAll != 0 {
			problems = append(problems, fmt.Sprintf("attribute %q has unknown flags %#x", a, uint8(flags)))
		}
		if flags&AttrPersistent != 0 && !desc.persistent {
			problems = append(problems, fmt.Sprintf("attribute %q is Persistent but the type is not (call desc.SetPersistent(true))", a))
		}
		t.attrs[a] = flags
	}

	for i := 0; i < pt.NumMethod(); i++ {
		m := pt.Method(i)
		if hookNames[m.Name] {
			continue
		}
		if _, promoted := entityPtrType.MethodByName(m.Name); promoted {
			continue
		}
		if rc, ok := isReplyCallback(m.Type); ok {
			// Only the engine calls it, with an answer: not an RPC
			// target, or a call could forge an answer.
			rc.index = m.Index
			if t.replyCallbacks == nil {
				t.replyCallbacks = map[string]replyCallback{}
			}
			t.replyCallbacks[m.Name] = rc
			if desc.exposed[m.Name] != 0 && !isLoadCallback(m.Type) {
				problems = append(problems, fmt.Sprintf("exposed method %s takes an error: that is a request callback, which only the engine calls", m.Name))
			}
		}
		if isLoadCallback(m.Type) {
			// Only the engine calls it, with a load's answer: not an RPC
			// target, or a call could forge an answer.
			if desc.exposed[m.Name] != 0 {
				problems = append(problems, fmt.Sprintf("exposed method %s takes (EntityID, error): that is a load callback, which only the engine calls", m.Name))
			}
			if t.loadCallbacks == nil {
				t.loadCallbacks = map[string]int{}
			}
			t.loadCallbacks[m.Name] = m.Index
			continue
		}
		ans, ok := answerOf(m.Type)
		if !ok {
			continue // methods with other results are helpers, not RPC targets
		}
		if _, cb := t.replyCallbacks[m.Name]; cb {
			continue
		}
		if len(m.Name) > rpc.MaxMethodNameLen {
			// Gates refuse longer names from clients, and reasons and
			// logs quote them: no RPC method may have one.
			problems = append(problems, fmt.Sprintf("method %s… has a name of %d bytes; RPC method names are at most %d (rpc.MaxMethodNameLen; give it a result to keep it a helper)",
				m.Name[:32], len(m.Name), rpc.MaxMethodNameLen))
			continue
		}
		params := make([]reflect.Type, m.Type.NumIn()-1)
		for j := range params {
			params[j] = m.Type.In(j + 1)
		}
		if m.Type.IsVariadic() {
			if desc.exposed[m.Name] != 0 {
				problems = append(problems, fmt.Sprintf("exposed method %s is variadic", m.Name))
			}
			continue
		}
		var bad error
		for j, p := range params {
			if err := rpc.CheckParamType(p); err != nil {
				bad = fmt.Errorf("parameter %d: %v", j, err)
				break
			}
		}
		if bad != nil {
			if desc.exposed[m.Name] != 0 {
				problems = append(problems, fmt.Sprintf("exposed method %s: %v", m.Name, bad))
			}
			continue // not callable as RPC, but a legal Go method
		}
		mt := &method{name: m.Name, index: m.Index, params: params, exposed: desc.exposed[m.Name], answer: ans}
		if ans == answerValue {
			mt.result = m.Type.Out(0)
		}
		t.methods[m.Name] = mt
	}
	seen := map[string]bool{}
	for _, name := range desc.order {
		if seen[name] {
			continue
		}
		seen[name] = true
		if _, ok := t.methods[name]; ok {
			continue
		}
		_, promoted := entityPtrType.MethodByName(name)
		m, ok := pt.MethodByName(name)
		switch {
		case promoted || hookNames[name]:
			problems = append(problems, fmt.Sprintf("%s is an engine method and cannot be exposed", name))
		case !ok:
			problems = append(problems, fmt.Sprintf("exposed method %s does not exist on %s", name, pt))
		case func() bool { _, ok := answerOf(m.Type); return !ok }():
			problems = append(problems, fmt.Sprintf("exposed method %s returns values other than (T, error) or error; RPC methods return nothing, an error, or a result and an error", name))
		case func() bool { _, ok := isReplyCallback(m.Type); return ok }():
			problems = append(problems, fmt.Sprintf("exposed method %s takes an error: that is a request callback, which only the engine calls", name))
		}
		// Otherwise the method exists but is variadic or has a parameter
		// type that cannot travel: reported by the loop above.
	}
	cms, cproblems := validateClientMethods(&desc)
	problems = append(problems, cproblems...)
	t.clientMethods = cms
	for a, s := range desc.attrTypes {
		if _, ok := desc.attrs[a]; !ok {
			problems = append(problems, fmt.Sprintf("attribute %q: Type of an undeclared attribute", a))
			continue
		}
		at := sampleType(s)
		if err := rpc.CheckParamType(at); err != nil {
			problems = append(problems, fmt.Sprintf("attribute %q: type: %v", a, err))
			continue
		}
		if t.attrTypes == nil {
			t.attrTypes = map[string]reflect.Type{}
		}
		t.attrTypes[a] = at
	}
	for a, v := range desc.defaults {
		if _, typed := t.attrTypes[a]; !typed && v != nil {
			if at := reflect.TypeOf(v); rpc.CheckParamType(at) == nil {
				if t.attrTypes == nil {
					t.attrTypes = map[string]reflect.Type{}
				}
				t.attrTypes[a] = at
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fail("%s", strings.Join(problems, "; "))
	}
	r.types[name] = t
	r.indexClientMethods(t)
	return nil
}
