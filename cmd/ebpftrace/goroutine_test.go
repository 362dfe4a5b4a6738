package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGoroutineBlocked: goroutine.blocked on examples/blocker, whose four
// goroutines block a known number of times each, in a known way, for at
// least a known time: exact counts by reason for each, the shortest
// duration no shorter than the sleep, and the stack where it blocked.
func TestGoroutineBlocked(t *testing.T) {
	needRoot(t)
	builds := map[string]string{
		"dwarf":           goBuild(t, "blocker", "../../examples/blocker"),
		"stripped":        goBuild(t, "blocker-stripped", "../../examples/blocker", "-ldflags=-s -w"),
		"go1.19-stripped": goBuild119(t, "blocker-119", "blocker", "-ldflags=-s -w"),
	}
	for name, bin := range builds {
		t.Run(name, func(t *testing.T) {
			if bin == "" {
				t.Skipf("skipped: %s is not installed (apt-get install golang-1.19-go; make deps does)", go119)
			}
			cmd := exec.Command(bin, "-n", "4", "-d", "30ms", "-wait")
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			out := bufio.NewReader(stdout)
			out.ReadString('\n') // "pid N"
			tr := traceInBackground(t, "-p", fmt.Sprint(cmd.Process.Pid), "-e", `goroutine.blocked().by(goid, reason).count()
goroutine.blocked().by(goid, reason).min(duration)
goroutine.blocked().filter(reason == "sleep").by(goid, stack).count().as("where")`)
			io.WriteString(stdin, "go\n")
			// One line per blocker, then "done".
			blockers := map[string]string{} // goid → kind
			for {
				line, err := out.ReadString('\n')
				if err != nil {
					t.Fatalf("blocker: %v", err)
				}
				if strings.HasPrefix(line, "done") {
					break
				}
				if m := regexp.MustCompile(`^(\w+) goroutine (\d+) blocked`).FindStringSubmatch(line); m != nil {
					blockers[m[2]] = m[1]
				}
			}
			io.WriteString(stdin, "bye\n")
			cmd.Wait()
			got := tr.stop()
			if len(blockers) != 4 {
				t.Fatalf("blocker printed %d blockers", len(blockers))
			}
			reasons := map[string][]string{"chan": {"chan receive"}, "mutex": {"sync.Mutex.Lock", "semacquire"}, "sleep": {"sleep"}, "socket": {"IO wait"}}
			for goid, kind := range blockers {
				found := false
				for _, reason := range reasons[kind] {
					if strings.Contains(got, fmt.Sprintf("@count[%s, %s]: 4\n", goid, reason)) {
						found = true
						m := regexp.MustCompile(fmt.Sprintf(`@min\[%s, %s\]: (\d+)`, goid, regexp.QuoteMeta(reason))).FindStringSubmatch(got)
						if m == nil {
							t.Errorf("%s: no shortest duration", kind)
							continue
						}
						// The waker's 30 ms sleep starts before the blocked
						// goroutine parks, and its timer may fire a little
						// early on a loaded VM: 95 % of it is the floor.
						if d, _ := strconv.Atoi(m[1]); d < 30e6*95/100 {
							t.Errorf("%s blocked %d ns at least, less than 95%% of its 30 ms", kind, d)
						}
					}
				}
				if !found {
					t.Errorf("%s (goroutine %s): not 4 blocks with reason %v:\n%s", kind, goid, reasons[kind], got)
				}
			}
			if !strings.Contains(got, "        runtime.gopark") || !strings.Contains(got, "        time.Sleep") || !strings.Contains(got, "main.blockOnSleep") {
				t.Errorf("the sleeps' stack lacks gopark, time.Sleep or main.blockOnSleep:\n%s", got)
			}
		})
	}
}

// TestGoroutineBlockedDebian: Debian's prometheus, a stripped go1.19.8
// server: the wait reasons of its goroutines, named, while it serves
// requests.
func TestGoroutineBlockedDebian(t *testing.T) {
	needRoot(t)
	const prom = "/usr/bin/prometheus"
	if _, err := os.Stat(prom); err != nil {
		t.Skipf("skipped: %s is not installed (apt-get install prometheus; make deps does)", prom)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1h\n"), 0o644)
	addr := freeAddr(t)
	cmd := exec.Command(prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	base := "http://" + addr
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/-/ready"); err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if i == 200 {
			t.Fatal("prometheus did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	tr := traceInBackground(t, "-p", fmt.Sprint(cmd.Process.Pid), "-e", `goroutine.blocked().by(reason).count()`)
	for range 20 {
		request(t, "GET", base+"/api/v1/query?query=up")
	}
	out := tr.stop()
	// Serving requests over HTTP waits on the network poller; the
	// server's own goroutines wait on channels.
	for _, reason := range []string{"IO wait", "chan receive"} {
		if !regexp.MustCompile(`(?m)^@count\[` + reason + `\]: \d+$`).MatchString(out) {
			t.Errorf("no %q waits:\n%s", reason, out)
		}
	}
}
