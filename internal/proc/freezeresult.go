package proc

import (
	"fmt"
	"path/filepath"
)

// FreezeResult is what a game's freeze attempt (SIGUSR1, hot reload)
// leaves in its freeze_dir as game<ID>.result.json, for goworldctl
// reload to read: the contract between the two, like the ready line.
type FreezeResult struct {
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`
	File     string `json:"file,omitempty"`
	Entities int    `json:"entities"`
	Bytes    int    `json:"bytes"`
	// SignalAt is when the freeze was requested (unix nanoseconds).
	SignalAt int64 `json:"signal_at"`
	// FreezeMS is how long the freeze took, from the request to the file
	// being renamed into place.
	FreezeMS float64 `json:"freeze_ms"`
}

// FreezeResultPath is where game id's last freeze result is written in
// its freeze directory dir.
func FreezeResultPath(dir string, id int) string {
	return filepath.Join(dir, fmt.Sprintf("game%d.result.json", id))
}
