package proc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ReadyInfo is what a server process reports when it is ready to serve, as
// the JSON object of its READY line, for example
//
//	READY {"name":"gate1","role":"gate","id":1,"pid":1234,"addr":"127.0.0.1:14001"}
type ReadyInfo struct {
	Name string `json:"name"` // process name, e.g. "gate1"
	Role string `json:"role"` // "dispatcher", "game" or "gate"
	ID   int    `json:"id"`   // N of the process's config section
	PID  int    `json:"pid"`  // process ID
	Addr string `json:"addr"` // actual bound listen address; empty for a game
	// WSURL is a gate's WebSocket address as a client dials it
	// (ws://127.0.0.1:14002/ or wss://...); empty if it serves none.
	WSURL string `json:"ws_url,omitempty"`
	// HTTPAddr is the bound admin HTTP address (/metrics, /debug/pprof/);
	// empty if the process has none (http_addr is empty).
	HTTPAddr string `json:"http_addr,omitempty"`
	// Restored is set by a game that resumed from a freeze file (hot
	// reload); PauseMS is then the time from the freeze signal until it
	// served again, and Entities how many entities it restored.
	Restored bool    `json:"restored,omitempty"`
	PauseMS  float64 `json:"pause_ms,omitempty"`
	Entities int     `json:"entities,omitempty"`
	// RestoreHooks is how many entities' OnRestore hooks ran, and
	// RestorePanics how many of them panicked (the entity stays, as the
	// hook left it): a new binary whose OnRestore is broken.
	RestoreHooks  int `json:"restore_hooks,omitempty"`
	RestorePanics int `json:"restore_panics,omitempty"`
}

// readyPrefix starts the one line written to the ready pipe.
const readyPrefix = "READY "

// maxReadyLine bounds the READY line that ReadReady accepts.
const maxReadyLine = 64 << 10

// errPipeClosed is wrapped by the errors of ReadReady when the pipe was
// closed before a complete line, which usually means the process is exiting.
var errPipeClosed = errors.New("ready pipe closed without a READY line")

// formatReady returns the READY line for info, newline included.
func formatReady(info ReadyInfo) ([]byte, error) {
	js, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	line := make([]byte, 0, len(readyPrefix)+len(js)+1)
	line = append(line, readyPrefix...)
	line = append(line, js...)
	return append(line, '\n'), nil
}

// ReadReady reads one READY line from r, the read end of a ready pipe, and
// returns its contents. It fails if r ends before a complete line, if the
// line is not "READY " followed by a JSON object, or if the object lacks a
// name, a role or a positive pid.
func ReadReady(r io.Reader) (ReadyInfo, error) {
	br := bufio.NewReader(io.LimitReader(r, maxReadyLine))
	line, err := br.ReadString('\n')
	if err != nil {
		if line == "" && errors.Is(err, io.EOF) {
			return ReadyInfo{}, errPipeClosed
		}
		if errors.Is(err, io.EOF) {
			return ReadyInfo{}, fmt.Errorf("%w: incomplete line %q", errPipeClosed, truncate(line))
		}
		return ReadyInfo{}, fmt.Errorf("read ready pipe: %w", err)
	}
	return parseReady(strings.TrimRight(line, "\r\n"))
}

func parseReady(line string) (ReadyInfo, error) {
	js, ok := strings.CutPrefix(line, readyPrefix)
	if !ok {
		return ReadyInfo{}, fmt.Errorf("ready pipe: want %q followed by JSON, got %q", readyPrefix, truncate(line))
	}
	var info ReadyInfo
	if err := json.Unmarshal([]byte(js), &info); err != nil {
		return ReadyInfo{}, fmt.Errorf("READY line %q: %w", truncate(line), err)
	}
	switch {
	case info.Name == "":
		return ReadyInfo{}, fmt.Errorf("READY line %q has no name", truncate(line))
	case info.Role == "":
		return ReadyInfo{}, fmt.Errorf("READY line %q has no role", truncate(line))
	case info.PID <= 0:
		return ReadyInfo{}, fmt.Errorf("READY line %q has no valid pid", truncate(line))
	}
	return info, nil
}

func truncate(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
