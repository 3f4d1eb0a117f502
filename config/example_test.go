package config_test

import (
	"fmt"

	"github.com/goworld-engine/goworld/config"
)

func ExampleParse() {
	const text = `
[dispatcher1]
listen_addr = 127.0.0.1:13001

[game_common]
boot_entity = Account

[game1]
log_level = debug

[gate1]
listen_addr = 127.0.0.1:14001
heartbeat_timout = 10s
`
	_, err := config.Parse("config.ini", []byte(text))
	fmt.Println(err)

	cfg, err := config.Parse("config.ini", []byte(text[:len(text)-len("heartbeat_timout = 10s\n")]))
	if err != nil {
		panic(err)
	}
	game, _ := cfg.Game(1)
	fmt.Println(game.Name, game.BootEntity, game.LogLevel, game.LogFile, game.SaveInterval)
	fmt.Println(cfg.DispatcherAddrs())
	// Output:
	// config.ini: [gate1] unknown key "heartbeat_timout" (did you mean "heartbeat_timeout"?)
	// game1 Account debug game1.log 1m0s
	// [127.0.0.1:13001]
}
