// Package bench is jetlog's measurement harness: synthetic producers, real
// processes, and every figure reported as a ratio against a baseline
// measured in the same run on the same machine.
package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/natsserver"
	"github.com/jetlog/jetlog/libs/topology"
)

// Machine describes where a run happened.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	Memory     string `json:"memory"`
	OS         string `json:"os"`
	Go         string `json:"go"`
	OpenSearch string `json:"opensearch,omitempty"`
}

// ThisMachine reads the CPU model and memory from /proc, and asks the
// OpenSearch node at osURL (when given) for its version and heap.
func ThisMachine(osURL string) Machine {
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
	if kb := procField("/proc/meminfo", "MemTotal:"); kb > 0 {
		m.Memory = fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
	}
	if osURL != "" {
		m.OpenSearch = openSearchVersion(osURL)
	}
	return m
}

func (m Machine) String() string {
	s := fmt.Sprintf("%s, %d cores, %s, %s, %s", m.CPU, m.Cores, m.Memory, m.OS, m.Go)
	if m.OpenSearch != "" {
		s += ", " + m.OpenSearch
	}
	return s
}

// openSearchVersion says "OpenSearch 2.19.6 (heap 512 MiB)" for the node at url.
func openSearchVersion(url string) string {
	var root struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	resp, err := http.Get(url)
	if err != nil || decodeJSON(resp, &root) != nil {
		return "OpenSearch (version unknown)"
	}
	s := "OpenSearch " + root.Version.Number
	var nodes struct {
		Nodes map[string]struct {
			JVM struct {
				Mem struct {
					HeapMax int64 `json:"heap_max_in_bytes"`
				} `json:"mem"`
			} `json:"jvm"`
		} `json:"nodes"`
	}
	if resp, err := http.Get(url + "/_nodes/jvm"); err == nil && decodeJSON(resp, &nodes) == nil {
		for _, n := range nodes.Nodes {
			s += fmt.Sprintf(" (one node, heap %.0f MiB)", MiB(n.JVM.Mem.HeapMax))
			break
		}
	}
	return s
}

// LoadAvg is the machine's 1-minute load average: the machine is shared,
// so every measurement states it.
func LoadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// procField returns the kB value of a "Key: value kB" line of a /proc file.
func procField(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key) {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb
			}
		}
	}
	return 0
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
	n, err := connectNATS(ctx, srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		return nil, err
	}
	if err := topology.Ensure(ctx, n.JS, topology.Defaults(), nil); err != nil {
		n.Close()
		srv.Shutdown()
		return nil, err
	}
	n.srv, n.dir = srv, dir
	return n, nil
}

// connectNATS connects to a server the harness did not start (the NATS of
// a jetlog process), to watch its streams.
func connectNATS(_ context.Context, url string) (*NATS, error) {
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &NATS{NC: nc, JS: js}, nil
}

// URL is the client URL.
func (n *NATS) URL() string { return n.srv.ClientURL() }

// Close closes the connection, and stops the server and removes its store
// when the harness started it.
func (n *NATS) Close() {
	n.NC.Close()
	if n.srv != nil {
		n.srv.Shutdown()
		_ = os.RemoveAll(n.dir)
	}
}

// PublishAll publishes every event on subject(ev) with its id, keeping
// 4000 in flight (a sliding window: each publish waits only for the one
// 4000 before it), and returns the rate once every PubAck came.
func (n *NATS) PublishAll(ctx context.Context, evs []RawEvent, subject func(RawEvent) string, data func(RawEvent) []byte) (float64, error) {
	const window = 4000
	futs := make([]jetstream.PubAckFuture, window)
	wait := func(f jetstream.PubAckFuture) error {
		if f == nil {
			return nil
		}
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	start := time.Now()
	for i, ev := range evs {
		if err := wait(futs[i%window]); err != nil {
			return 0, err
		}
		f, err := n.JS.PublishAsync(subject(ev), data(ev), jetstream.WithMsgID(ev.ID))
		if err != nil {
			return 0, err
		}
		futs[i%window] = f
	}
	for _, f := range futs {
		if err := wait(f); err != nil {
			return 0, err
		}
	}
	return float64(len(evs)) / time.Since(start).Seconds(), nil
}

// Consumer returns a durable consumer's state: messages not yet delivered
// and delivered but not acknowledged.
func (n *NATS) Consumer(ctx context.Context, stream, durable string) (pending, ackPending uint64, err error) {
	c, err := n.JS.Consumer(ctx, stream, durable)
	if err != nil {
		return 0, 0, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	return info.NumPending, uint64(info.NumAckPending), nil
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

// firstDelivery waits until a durable consumer has delivered its first
// message and returns when that was seen (within 5 ms).
func (n *NATS) firstDelivery(ctx context.Context, stream, durable string) (time.Time, error) {
	for {
		if c, err := n.JS.Consumer(ctx, stream, durable); err == nil {
			if info, err := c.Info(ctx); err == nil && info.Delivered.Stream > 0 {
				return time.Now(), nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("consumer %s on %s delivered nothing: %w", durable, stream, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Build compiles the main package at pkg (a directory of the repository,
// such as services/gateway or cmd/jetlog) into dir, and returns the
// binary's path.
func Build(repo, pkg, dir string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = filepath.Join(repo, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

// Proc is a process under measurement: its CPU time and memory are read
// from /proc.
type Proc struct {
	Name    string
	cmd     *exec.Cmd
	log     *os.File
	logPath string
	done    chan struct{}
}

// StartProc starts bin with env and args, logging to a file in dir.
func StartProc(name, bin, dir string, env []string, args ...string) (*Proc, error) {
	path := filepath.Join(dir, name+".log")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &Proc{Name: name, cmd: cmd, log: f, logPath: path, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports an error, with the end of the process's log, when the
// process is no longer running.
func (p *Proc) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %s\n%s", p.Name, p.cmd.ProcessState, p.LogTail(2000))
	default:
		return nil
	}
}

// LogTail returns the last n bytes of the process's log.
func (p *Proc) LogTail(n int64) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTick = 100

// CPU is the process's user + system CPU time so far, all threads.
func (p *Proc) CPU() (time.Duration, error) { return procCPU(p.Pid()) }

func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields are
	// counted after its closing parenthesis.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTick, nil
}

// SelfCPU is this process's own user + system CPU time (getrusage).
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RSS is the process's resident set now (VmRSS) in bytes.
func (p *Proc) RSS() int64 { return procField(fmt.Sprintf("/proc/%d/status", p.Pid()), "VmRSS:") << 10 }

// PeakRSS is the process's peak resident set (VmHWM) in bytes.
func (p *Proc) PeakRSS() int64 {
	return procField(fmt.Sprintf("/proc/%d/status", p.Pid()), "VmHWM:") << 10
}

// WaitReady polls the process's admin /readyz (or /readyz/<component>)
// until it answers 200, failing early if the process exits.
func (p *Proc) WaitReady(ctx context.Context, adminAddr, component string) error {
	url := "http://" + adminAddr + "/readyz"
	if component != "" {
		url += "/" + component
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := p.Exited(); err != nil {
			return err
		}
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not ready after 2 minutes: %s", p.Name, body)
			}
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 2 minutes: %v", p.Name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop interrupts the process and waits for it to exit (killing it after
// 30 s).
func (p *Proc) Stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// MiB formats bytes.
func MiB(b int64) float64 { return float64(b) / (1 << 20) }

// waitListening waits until something accepts connections on addr.
func waitListening(ctx context.Context, addr string) error {
	for range 600 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing listening on %s after a minute", addr)
}

// freeAddrs returns n distinct free loopback addresses.
func freeAddrs(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

// fetchProfile saves a profile served by a process's admin endpoint
// (/debug/pprof/<name>?<query>) to path.
func fetchProfile(ctx context.Context, adminAddr, name, query, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/debug/pprof/"+name+"?"+query, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("profile %s: %s: %s", name, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
