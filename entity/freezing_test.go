package entity

import (
	"errors"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
)

// TestNoMigrationWhileFreezing: while the game freezes, EnterSpace to a
// space on another game fails with ErrFreezing, sends nothing, and leaves
// the entity where it was (its space, its view); moves within this game
// still work; once the freeze is given up, the migration goes.
func TestNoMigrationWhileFreezing(t *testing.T) {
	e1 := newSpaceEnv(t)
	e2 := newEnvWith(t, e1.reg, e1.clock)
	var here, there *Entity
	e1.eng.Run(func() { here, _ = e1.w.CreateSpaceLocally("Zone", nil) })
	e2.eng.Run(func() { there, _ = e2.w.CreateSpaceLocally("Zone", nil) })
	m := e1.mover("traveller")
	e1.bind(m, 1, 10)
	e1.enter(m, here, 1, 2)
	e1.out.take()

	e1.eng.SetFreezing(true)
	var err error
	e1.eng.Run(func() { err = m.EnterSpace(there.ID(), Vector3{X: 3, Z: 4}) })
	if !errors.Is(err, ErrFreezing) {
		t.Fatalf("EnterSpace to another game while freezing: %v, want ErrFreezing", err)
	}
	if f := e1.out.take(); len(f) != 0 {
		t.Fatalf("a refused migration sent %d frames, e.g. %v", len(f), f[0].typ)
	}
	if m.migrating || e1.eng.NumMigrating() != 0 || m.Space() != here || m.Position() != (Vector3{X: 1, Z: 2}) {
		t.Fatalf("after the refusal: migrating %v, in %v at %v", m.migrating, m.Space(), m.Position())
	}
	// A space of this game is entered as ever.
	var other *Entity
	e1.eng.Run(func() { other, _ = e1.w.CreateSpaceLocally("Zone", nil) })
	e1.enter(m, other, 5, 6)
	if m.Space() != other {
		t.Fatal("a local space was not entered while freezing")
	}

	e1.eng.SetFreezing(false)
	e1.out.take()
	e1.enter(m, there, 3, 4)
	if !m.migrating || len(e1.out.ofType(rpc.MsgMigrateBlock)) != 1 {
		t.Fatal("the migration did not start once the freeze was over")
	}
}
