package config

import (
	"reflect"
	"strings"
	"testing"
)

// threeHosts is a cluster over three machines: a dispatcher on each,
// bound to every interface and advertising its private address, games on
// b and c, gates on a and c, Redis storage.
const threeHosts = `
[dispatcher_common]
listen_addr = 0.0.0.0:13001
[dispatcher1]
host = a
advertise_addr = 10.0.0.1:13001
[dispatcher2]
host = b
advertise_addr = 10.0.0.2:13001
[dispatcher3]
host = c
listen_addr = 10.0.0.3:13001
[game_common]
boot_entity = Account
host = b
[game1]
[game2]
[game3]
host = c
[gate_common]
listen_addr = 0.0.0.0:14001
[gate1]
host = a
[gate2]
host = c
[storage]
type = redis
addr = 10.0.0.5:6379
`

func TestThreeHosts(t *testing.T) {
	cfg, err := Parse("config.ini", []byte(threeHosts))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Hosts(), []string{"a", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Hosts() = %q, want %q", got, want)
	}
	var hosts []string
	for _, g := range cfg.Games {
		hosts = append(hosts, g.Name+"@"+g.Host)
	}
	for _, g := range cfg.Gates {
		hosts = append(hosts, g.Name+"@"+g.Host)
	}
	if got, want := strings.Join(hosts, " "), "game1@b game2@b game3@c gate1@a gate2@c"; got != want {
		t.Errorf("hosts of games and gates: %s, want %s (game_common's host, overridden by [game3])", got, want)
	}
	// Games and gates dial the advertised address where there is one.
	if got, want := cfg.DispatcherAddrs(), []string{"10.0.0.1:13001", "10.0.0.2:13001", "10.0.0.3:13001"}; !reflect.DeepEqual(got, want) {
		t.Errorf("DispatcherAddrs() = %q, want %q", got, want)
	}
	// The same port on two hosts is no conflict; the dispatchers bind
	// every interface, which is allowed for listen_addr.
	if d, _ := cfg.Dispatcher(2); d.ListenAddr != "0.0.0.0:13001" || d.AdvertiseAddr != "10.0.0.2:13001" {
		t.Errorf("dispatcher2 = %+v", d)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// TestManyGamesNeedSharedStorage checks the storage rule: a bbolt file
// holds one game, a store every game shares holds any number.
func TestManyGamesNeedSharedStorage(t *testing.T) {
	four := noWS + "[game2]\nboot_entity = Account\n[game3]\nboot_entity = Account\n[game4]\nboot_entity = Account\n"
	cfg, err := Parse("config.ini", []byte(four+"[storage]\ntype = redis\naddr = 10.0.0.5:6379\n"))
	if err != nil {
		t.Fatalf("four games with redis: %v", err)
	}
	if len(cfg.Games) != 4 || cfg.Storage.Type != StorageRedis {
		t.Errorf("games %d, storage %+v", len(cfg.Games), cfg.Storage)
	}
	_, err = Parse("config.ini", []byte(four))
	if err == nil || !strings.Contains(err.Error(), "but 4 are configured: [game1], [game2], [game3], [game4]; to run several games, set type = redis") {
		t.Errorf("four games with the default bbolt: %v", err)
	}
	one := Default()
	if err := one.Validate(); err != nil {
		t.Errorf("one game with bbolt: %v", err)
	}
	one.Games = append(one.Games, newGame(2))
	one.Games[1].BootEntity = "Account"
	if err := one.Validate(); err == nil || !strings.Contains(err.Error(), `[storage] type = "bbolt": allows one game process`) {
		t.Errorf("Validate of two games with bbolt: %v", err)
	}
	for _, typ := range []string{StorageRedis, StorageNone} {
		one.Storage = newStorage()
		one.Storage.Type, one.Storage.Path = typ, ""
		if typ == StorageRedis {
			one.Storage.Addr = "10.0.0.5:6379"
		}
		if err := one.Validate(); err != nil {
			t.Errorf("Validate of two games with %s and no path: %v", typ, err)
		}
	}
}

// TestOneMachineNeedsNoHosts checks that a cluster without host keys
// stays as it was: loopback, port 0, no hosts.
func TestOneMachineNeedsNoHosts(t *testing.T) {
	cfg, err := Parse("config.ini", []byte(strings.ReplaceAll(minimal, "13001", "0")))
	if err != nil {
		t.Fatal(err)
	}
	if h := cfg.Hosts(); len(h) != 0 {
		t.Errorf("Hosts() = %q", h)
	}
	// All on one named host: loopback and port 0 are fine there too.
	named := strings.ReplaceAll(minimal, "13001", "0") + "[dispatcher_common]\nhost = solo\n[game_common]\nhost = solo\n[gate_common]\nhost = solo\n"
	if cfg, err := Parse("config.ini", []byte(named)); err != nil || !reflect.DeepEqual(cfg.Hosts(), []string{"solo"}) {
		t.Errorf("one named host: %v, %v", err, cfg)
	}
}
