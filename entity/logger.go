package entity

import "github.com/sirupsen/logrus"

// Logger returns the game's logger, so that entity code logs where the
// engine does (the game's log file): a login repaired, a player banned.
func (w *World) Logger() logrus.FieldLogger { return w.log }
