//go:build !go1.24

package main

import (
	"errors"
	"net/http"
)

// enableH2C needs Server.Protocols, new in Go 1.24.
func enableH2C(*http.Server) error {
	return errors.New("-h2c needs a server built with Go 1.24 or newer")
}
