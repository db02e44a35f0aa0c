package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BuildBinary compiles the main package in dir (relative to the test's
// package) into a temporary file and returns its path.
func BuildBinary(t testing.TB, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(dir)+"-bin")
	if abs, err := filepath.Abs(dir); err == nil {
		out = filepath.Join(t.TempDir(), filepath.Base(abs))
	}
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testkit: go build %s: %v\n%s", dir, err, b)
	}
	return out
}

// Process is a worker binary running as a real OS process, so tests can
// SIGTERM or SIGKILL it.
type Process struct {
	t    testing.TB
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
	err  error
	// Admin is the address of its admin endpoints, read from its log.
	Admin string
}

// StartProcess runs bin with args and env added to this process's
// environment. Its log must be JSON (log.format=json) so the admin address
// can be read; StartProcess waits for it.
func StartProcess(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{t: t, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("testkit: start %s: %v", bin, err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.mu.Lock()
			p.logs.Write(line)
			p.logs.WriteByte('\n')
			p.mu.Unlock()
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "admin endpoints listening" {
				select {
				case addr <- rec.Addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("log of %s:\n%s", filepath.Base(bin), p.Logs())
		}
	})
	select {
	case p.Admin = <-addr:
	case <-p.done:
		t.Fatalf("testkit: %s exited at start: %v\n%s", bin, p.err, p.Logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("testkit: %s did not report its admin address\n%s", bin, p.Logs())
	}
	return p
}

// Logs returns what the process logged so far.
func (p *Process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
}

// Wait waits for the process to exit and returns its exit code.
func (p *Process) Wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("testkit: process still running after %v\n%s", timeout, p.Logs())
	}
	return p.cmd.ProcessState.ExitCode()
}

// Metric scrapes the process's /metrics and returns the sum of the samples
// of name whose labels include every label given as "k=v".
func (p *Process) Metric(name string, labels ...string) float64 {
	p.t.Helper()
	return SumMetric(Scrape(p.t, p.Admin), name, labels...)
}

// Scrape returns the /metrics exposition of the admin endpoints at addr.
func Scrape(t testing.TB, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("testkit: scrape: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// SumMetric sums the samples of name in a Prometheus text exposition whose
// labels include every "k=v" given.
func SumMetric(exposition, name string, labels ...string) float64 {
	var sum float64
	for _, line := range strings.Split(exposition, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		ok := true
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			if !strings.Contains(rest, fmt.Sprintf("%s=%q", k, v)) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(f) == 0 {
			continue
		}
		if x, err := strconv.ParseFloat(f[0], 64); err == nil {
			sum += x
		}
	}
	return sum
}
