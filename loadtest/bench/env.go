// Package bench is jetlog's measurement harness: synthetic producers, real
// processes, and every figure reported as a ratio against a baseline
// measured in the same run on the same machine.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/natsserver"
	"github.com/jetlog/jetlog/libs/topology"
)

// Machine describes where a run happened.
type Machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Memory string `json:"memory"`
	OS     string `json:"os"`
	Go     string `json:"go"`
}

// ThisMachine reads the CPU model and memory from /proc.
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				f := strings.Fields(line)
				if kb, err := strconv.Atoi(f[1]); err == nil {
					m.Memory = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	return m
}

// NATS is an embedded server for one measurement, with a connection.
type NATS struct {
	srv *natsserver.Server
	dir string
	NC  *nats.Conn
	JS  jetstream.JetStream
}

// StartNATS starts the embedded server the way `jetlog run` does.
func StartNATS(ctx context.Context) (*NATS, error) {
	dir, err := os.MkdirTemp("", "jetlog-bench-nats")
	if err != nil {
		return nil, err
	}
	cfg := natsserver.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.StoreDir = dir
	srv, err := natsserver.Start(cfg, nil)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		return nil, err
	}
	if err := topology.Ensure(ctx, js, topology.Defaults(), nil); err != nil {
		return nil, err
	}
	return &NATS{srv: srv, dir: dir, NC: nc, JS: js}, nil
}

// URL is the client URL.
func (n *NATS) URL() string { return n.srv.ClientURL() }

// Close stops the server and removes its store.
func (n *NATS) Close() {
	n.NC.Close()
	n.srv.Shutdown()
	_ = os.RemoveAll(n.dir)
}

// PublishAll publishes every event on subject(ev) with its id, 4000 in
// flight, and returns the rate.
func (n *NATS) PublishAll(ctx context.Context, evs []RawEvent, subject func(RawEvent) string, data func(RawEvent) []byte) (float64, error) {
	start := time.Now()
	const window = 4000
	for i := 0; i < len(evs); i += window {
		end := min(i+window, len(evs))
		futs := make([]jetstream.PubAckFuture, 0, end-i)
		for _, ev := range evs[i:end] {
			f, err := n.JS.PublishAsync(subject(ev), data(ev), jetstream.WithMsgID(ev.ID))
			if err != nil {
				return 0, err
			}
			futs = append(futs, f)
		}
		for _, f := range futs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return 0, err
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
	}
	return float64(len(evs)) / time.Since(start).Seconds(), nil
}

// WaitDrained waits until a durable consumer has nothing pending or
// unacknowledged and returns when that happened.
func (n *NATS) WaitDrained(ctx context.Context, stream, durable string) (time.Time, error) {
	for {
		c, err := n.JS.Consumer(ctx, stream, durable)
		if err == nil {
			info, err := c.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream > 0 {
				return time.Now(), nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("consumer %s on %s not drained: %w", durable, stream, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Build compiles a service binary of the repository into dir.
func Build(repo, service, dir string) (string, error) {
	out := filepath.Join(dir, service)
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = filepath.Join(repo, "services", service)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", service, err, b)
	}
	return out, nil
}

// Proc is a service process whose peak memory is read at the end.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	log  *os.File
}

// StartProc starts bin with env and args, logging to a file in dir.
func StartProc(name, bin, dir string, env []string, args ...string) (*Proc, error) {
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &Proc{Name: name, cmd: cmd, log: f}, nil
}

// PeakRSS is the process's peak resident set (VmHWM) in bytes.
func (p *Proc) PeakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Stop terminates the process and waits.
func (p *Proc) Stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.log.Close()
}

// MiB formats bytes.
func MiB(b int64) float64 { return float64(b) / (1 << 20) }

// profile saves a 5-second CPU profile of a process serving pprof on its
// admin address, starting a second into the load.
func profile(adminAddr, path string, log interface{ Info(string, ...any) }) {
	time.Sleep(time.Second)
	resp, err := http.Get("http://" + adminAddr + "/debug/pprof/profile?seconds=5")
	if err != nil {
		log.Info("profile failed", "err", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
	log.Info("profile written", "path", path)
}
