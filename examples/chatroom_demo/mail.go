package main

import (
	"errors"
	"unicode/utf8"

	"github.com/goworld-engine/goworld/storage"
)

// maxInbox is how many mails an avatar keeps for its next login; past it
// the oldest are dropped (the mailbox in storage holds at most
// mailbox_limit more, before the avatar is loaded).
const maxInbox = 100

// Mail sends text to the player named user: at once if they are online,
// else at their next login (an offline message, kept in storage). The
// sender's client is told OnMailSent(user), or OnError.
func (a *Avatar) Mail(user, text string) {
	switch {
	case !validName.MatchString(user):
		a.CallClient("OnError", "a user name is 1 to 32 letters, digits, '_', '.' or '-'")
		return
	case text == "" || len(text) > maxMessage || !utf8.ValidString(text):
		a.CallClient("OnError", "a mail is valid UTF-8 of 1 to 1000 bytes")
		return
	}
	from := a.Attrs.GetString("name")
	a.World().KVGet("account/"+user, func(val []byte, err error) {
		var rec accountRecord
		switch {
		case errors.Is(err, storage.ErrNotFound):
			a.CallClient("OnError", "no user named "+user)
			return
		case err != nil:
			a.CallClient("OnError", msgStoreDown)
			return
		case decodeRecord(val, &rec) != nil || !rec.Avatar.Valid():
			a.CallClient("OnError", "the account of "+user+" is damaged")
			return
		}
		if err := a.CallOffline("Avatar", rec.Avatar, "OnMail", from, text); err != nil {
			a.World().Logger().WithError(err).Errorf("mail from %q to %q", from, user)
			a.CallClient("OnError", "the mail could not be sent")
			return
		}
		a.CallClient("OnMailSent", user)
	})
}

// OnMail receives a mail (by Entity.CallOffline: at once if the avatar is
// live, else when it is next loaded). With a client it goes to the client
// as OnMail(from, text); without one (the avatar loading for a login) it
// waits in the inbox until OnClientConnected.
func (a *Avatar) OnMail(from, text string) {
	if a.HasClient() {
		a.CallClient("OnMail", from, text)
		return
	}
	var kept []any
	if inbox := a.Attrs.GetList("inbox"); inbox != nil {
		kept = inbox.ToList()
	}
	kept = append(kept, []any{from, text})
	if len(kept) > maxInbox {
		kept = kept[len(kept)-maxInbox:]
	}
	a.Attrs.Set("inbox", kept)
}

// deliverInbox sends the client the mail that waited for it, in order.
func (a *Avatar) deliverInbox() {
	inbox := a.Attrs.GetList("inbox")
	if inbox == nil {
		return
	}
	for _, m := range inbox.ToList() {
		if pair, ok := m.([]any); ok && len(pair) == 2 {
			a.CallClient("OnMail", pair[0], pair[1])
		}
	}
	a.Attrs.Delete("inbox")
}
