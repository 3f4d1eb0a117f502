// Package jsclient holds the tests of goworld.js, the JavaScript client
// for browsers and Node in this directory (see README.md). It has no Go
// API: its tests run goworld.js under Node against in-process clusters.
package jsclient
