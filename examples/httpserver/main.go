// Command httpserver is a net/http server to trace with http.server: a
// fast route, a slow one that sleeps a known time, failing ones (404,
// 500), and handlers that start goroutines. It builds with Go 1.17 and
// newer, so it can be traced as built by old and new toolchains.
//
//	httpserver -addr 127.0.0.1:8080 [-slow 100ms] [-tls-cert c.pem -tls-key k.pem] [-h2c]
//
// Routes:
//
//	/fast     200 "fast"
//	/slow     200 "slow" after sleeping -slow
//	/missing  404 (http.NotFound)
//	/fail     500 (http.Error)
//	/implicit 200 written by net/http after the handler returns (it writes nothing)
//	/spawn    200 after the handler waits for three goroutines it started
//	/async    202 written by a goroutine the handler started and waits for
//
// Any other path is a 404 from the ServeMux. Every response carries the
// handler goroutine's ID in the X-Goid header, so a test can check the
// goid a tracer reports. It prints "listening on ADDR" once it accepts
// connections.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	slow := flag.Duration("slow", 100*time.Millisecond, "how long /slow sleeps")
	cert := flag.String("tls-cert", "", "serve HTTPS (HTTP/1.1 and HTTP/2) with this certificate file")
	key := flag.String("tls-key", "", "the certificate's key file")
	h2c := flag.Bool("h2c", false, "also accept unencrypted HTTP/2 (prior knowledge; Go 1.24 or newer)")
	flag.Parse()

	srv := &http.Server{Handler: routes(*slow)}
	if *h2c {
		if err := enableH2C(srv); err != nil {
			log.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	os.Stdout.Sync()
	if *cert != "" {
		err = srv.ServeTLS(ln, *cert, *key)
	} else {
		err = srv.Serve(ln)
	}
	log.Fatal(err)
}

func routes(slow time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "fast")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(slow)
		fmt.Fprintln(w, "slow")
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "failed on purpose", http.StatusInternalServerError)
	})
	mux.HandleFunc("/implicit", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/spawn", func(w http.ResponseWriter, r *http.Request) {
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Millisecond)
			}()
		}
		wg.Wait()
		fmt.Fprintln(w, "spawned 3")
	})
	mux.HandleFunc("/async", func(w http.ResponseWriter, r *http.Request) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintln(w, "accepted")
		}()
		<-done
	})
	return withGoid(mux)
}

// withGoid sets X-Goid to the ID of the goroutine running the handler.
func withGoid(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Goid", strconv.FormatUint(goid(), 10))
		h.ServeHTTP(w, r)
	})
}

// goid parses the current goroutine's ID from its stack header,
// "goroutine 123 [running]:".
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	n, _ := strconv.ParseUint(string(b), 10, 64)
	return n
}
