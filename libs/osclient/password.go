package osclient

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
)

// passwordFile is a password kept in a file (a Kubernetes Secret volume, a
// file a Vault agent renders) and read again when the file changes, so a
// rotated secret is used without a restart.
//
// A change is noticed two ways. Before each request the file is stat'ed
// (one system call next to a bulk request of megabytes): a different
// inode, size or modification time means it was replaced or rewritten,
// including Kubernetes' swap of the ..data symlink. And a 401 from
// OpenSearch marks the password stale, so the next request reads the file
// again even when its stat looks the same (rewritten within the file
// system's time resolution, or the server rotated before the file).
type passwordFile struct {
	path string

	mu    sync.Mutex
	value string
	info  os.FileInfo // of the file value was read from
	stale bool        // OpenSearch refused value
}

// openPasswordFile reads the file once; at start an unreadable file is a
// configuration error.
func openPasswordFile(path string) (*passwordFile, error) {
	p := &passwordFile{path: path}
	info, err := os.Stat(path)
	if err == nil {
		err = p.read(info)
	}
	if err != nil {
		return nil, fmt.Errorf("opensearch password_file: %w", err)
	}
	return p, nil
}

// read reads the file whose stat is info. The caller holds mu, or owns p.
func (p *passwordFile) read(info os.FileInfo) error {
	b, err := os.ReadFile(p.path)
	if err != nil {
		return err
	}
	v := strings.TrimSpace(string(b))
	if v == "" && p.value != "" {
		// Truncated by a writer that has not written the new secret yet.
		return fmt.Errorf("%s is empty", p.path)
	}
	p.value, p.info, p.stale = v, info, false
	return nil
}

// get returns the password, reading the file again when it changed or
// OpenSearch refused the last one. A file that cannot be read at that
// moment (missing halfway through a rotation) leaves the last password in
// use; the next request tries again.
func (p *passwordFile) get() string {
	info, err := os.Stat(p.path)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		return p.value
	}
	if p.stale || !os.SameFile(p.info, info) || !info.ModTime().Equal(p.info.ModTime()) || info.Size() != p.info.Size() {
		_ = p.read(info)
	}
	return p.value
}

// refused records that OpenSearch answered 401 to the current password.
func (p *passwordFile) refused() {
	p.mu.Lock()
	p.stale = true
	p.mu.Unlock()
}

// basicAuth is a transport that sets HTTP basic authentication from a
// password file on every request that carries no Authorization of its own
// (as opensearch-go does with a fixed password: only with a user and a
// password).
type basicAuth struct {
	next     http.RoundTripper
	user     string
	password *passwordFile
}

// RoundTrip implements http.RoundTripper.
func (a *basicAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") == "" {
		if pw := a.password.get(); a.user != "" && pw != "" {
			req = req.Clone(req.Context())
			req.SetBasicAuth(a.user, pw)
		}
	}
	resp, err := a.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		a.password.refused()
	}
	return resp, err
}
