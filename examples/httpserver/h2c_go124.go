//go:build go1.24

package main

import "net/http"

// enableH2C lets the server accept HTTP/2 without TLS (prior knowledge)
// besides HTTP/1, through net/http's own HTTP/2 (Server.Protocols).
func enableH2C(srv *http.Server) error {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Protocols = &p
	return nil
}
