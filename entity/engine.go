package entity

// Engine is the game loop's handle on a World: what feeds it frames from
// the dispatchers, runs its timers and position syncs, saves it, freezes
// and restores it, and reads the figures of its machinery. NewEngine is
// the only way to get one, and a World never gives its Engine back, so
// game code, which reaches the world through Entity.World, cannot drive
// it: a hook that called Handle or Restore would corrupt the live world.
//
// Like the World's, an Engine's methods must be called on the game loop,
// except those documented as safe from a metrics scrape
// (LocalServiceShards, MethodStats).
type Engine struct {
	w *World
}

// NewEngine returns an engine and its empty world. It checks that the
// boot entity type is registered. The game package calls it once per
// process; game code never needs it.
func NewEngine(cfg WorldConfig) (*Engine, error) {
	w, err := newWorld(cfg)
	if err != nil {
		return nil, err
	}
	return &Engine{w: w}, nil
}

// World returns the world the engine drives, for game code.
func (en *Engine) World() *World { return en.w }

// FlushClients sends everything buffered for clients. The engine's
// methods call it at the end of every event; the game need not.
func (en *Engine) FlushClients() { en.w.flushClients() }

// EnsureServices asks for every shard of every service: the dispatcher
// creates those that are not live (see MsgEnsureService).
func (en *Engine) EnsureServices() { en.w.ensureServices() }
