package goworldtest_test

import (
	"fmt"
	"testing"

	"github.com/goworld-engine/goworld"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/goworldtest"
)

// Greeter says hello to each client that connects and doubles numbers.
type Greeter struct{ goworld.Entity }

func (g *Greeter) DescribeEntityType(d *goworld.TypeDesc) {
	d.ExposeToClient("Double")
	d.DefineClientMethod("Hello", "").Names("text") // what the server calls on clients
}

func (g *Greeter) OnClientConnected()        { g.CallClient("Hello", "welcome") }
func (g *Greeter) Double(n int) (int, error) { return 2 * n, nil }

// In a game module's test, Start takes the test's t and the types
// registered with goworld.RegisterEntity (Options.Registry nil). An
// Example has no t: Run gives it one.
func Example() {
	reg := entity.NewRegistry()
	if err := reg.Register("Greeter", &Greeter{}); err != nil {
		panic(err)
	}
	err := goworldtest.Run(func(t testing.TB) {
		c := goworldtest.Start(t, goworldtest.Options{BootEntity: "Greeter", Registry: reg})
		p := c.Connect()
		fmt.Println(p.ExpectCall("Hello").Args...)
		n, err := p.Request("Double", 21)
		fmt.Println(n, err)
	})
	fmt.Println("failed:", err)
	// Output:
	// welcome
	// 42 <nil>
	// failed: <nil>
}

func ExampleRun_failure() {
	err := goworldtest.Run(func(t testing.TB) {
		goworldtest.Start(t, goworldtest.Options{Registry: entity.NewRegistry()})
		fmt.Println("not reached")
	})
	fmt.Println(err)
	// Output:
	// goworldtest: Options.BootEntity is required (the type each client gets, as boot_entity in config.ini)
}
