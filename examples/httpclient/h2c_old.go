//go:build !go1.24

package main

import (
	"errors"
	"net/http"
)

// useH2C needs Transport.Protocols, new in Go 1.24.
func useH2C(*http.Transport) error {
	return errors.New("-h2c needs a client built with Go 1.24 or newer")
}
