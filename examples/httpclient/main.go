// Command httpclient sends HTTP requests with net/http's Transport, to
// trace with http.client. It builds with Go 1.17 and newer.
//
//	httpclient [-n 1] [-method GET] [-wait] [-insecure] [-h2c] URL...
//
// It requests each URL n times in turn and prints "STATUS PROTO URL" per
// response ("error ERR URL" when the round trip fails). With -wait it
// first reads a line from standard input, so a tracer can attach to its
// process before the first request.
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
)

func main() {
	n := flag.Int("n", 1, "requests per URL")
	method := flag.String("method", "GET", "request method")
	wait := flag.Bool("wait", false, "read a line from standard input before the first request")
	insecure := flag.Bool("insecure", false, "accept any TLS certificate (self-signed test servers)")
	h2c := flag.Bool("h2c", false, "speak unencrypted HTTP/2 (prior knowledge; Go 1.24 or newer)")
	flag.Parse()

	tr := &http.Transport{ForceAttemptHTTP2: true}
	if *insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	if *h2c {
		if err := useH2C(tr); err != nil {
			log.Fatal(err)
		}
	}
	client := &http.Client{Transport: tr}
	if *wait {
		fmt.Println("waiting")
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
	for _, url := range flag.Args() {
		for i := 0; i < *n; i++ {
			req, err := http.NewRequest(*method, url, nil)
			if err != nil {
				log.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				fmt.Printf("error %v %s\n", err, url)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			fmt.Printf("%d %d %s\n", resp.StatusCode, resp.ProtoMajor, url)
		}
	}
}
