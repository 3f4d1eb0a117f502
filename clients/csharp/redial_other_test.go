//go:build !linux

package csharpclient_test

import "errors"

// redialGate needs a listener whose backlog is 0 (Linux).
func redialGate(report func(string, error)) (string, func(), error) {
	return "", nil, errors.New("the redial scenario needs Linux (a listen backlog of 0)")
}
