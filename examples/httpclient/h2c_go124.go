//go:build go1.24

package main

import "net/http"

// useH2C makes the transport speak HTTP/2 without TLS.
func useH2C(tr *http.Transport) error {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr.Protocols = &p
	return nil
}
