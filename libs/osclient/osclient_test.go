package osclient_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/libs/osclient"
	"github.com/jetlog/jetlog/libs/testkit"
)

// authProxy puts basic authentication with a password the test can change
// in front of the test node, and counts the requests it refused.
type authProxy struct {
	URL      string
	password atomic.Value
	refused  atomic.Int64
}

func newAuthProxy(t *testing.T, password string) *authProxy {
	p := &authProxy{}
	p.password.Store(password)
	p.URL = testkit.OpenSearchProxy(t, func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if user, pw, ok := r.BasicAuth(); ok && user == "jetlog" && pw == p.password.Load().(string) {
			return false
		}
		p.refused.Add(1)
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return true
	})
	return p
}

func client(t *testing.T, url, passwordFile string) *opensearchapi.Client {
	t.Helper()
	cfg := osclient.Defaults()
	cfg.URLs, cfg.Username, cfg.PasswordFile = []string{url}, "jetlog", passwordFile
	cl, err := osclient.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func ping(cl *opensearchapi.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return osclient.Ping(ctx, cl)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A Kubernetes Secret volume rotates by swapping the ..data symlink: the
// client uses the new password from its next request on, without a single
// refused request.
func TestPasswordFileSwappedLikeASecretVolume(t *testing.T) {
	proxy := newAuthProxy(t, "first-secret")
	dir := t.TempDir()
	version := func(name, password string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, name, "password"), password+"\n")
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..v1", "first-secret")
	if err := os.Symlink("..data/password", filepath.Join(dir, "password")); err != nil {
		t.Fatal(err)
	}
	cl := client(t, proxy.URL, filepath.Join(dir, "password"))
	if err := ping(cl); err != nil {
		t.Fatal(err)
	}

	proxy.password.Store("second-secret")
	version("..v2", "second-secret")
	if err := ping(cl); err != nil {
		t.Fatalf("after the secret volume was swapped: %v", err)
	}
	if n := proxy.refused.Load(); n != 0 {
		t.Errorf("%d requests refused: the client sent the old password after the file changed", n)
	}
}

// A password rewritten in place so that the file's stat looks unchanged
// (same size, modification time set back) is read again after the first
// 401, and that 401 tells the operator what to check.
func TestPasswordFileReadAgainAfter401(t *testing.T) {
	proxy := newAuthProxy(t, "first-secret")
	path := filepath.Join(t.TempDir(), "password")
	write(t, path, "first-secret")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	cl := client(t, proxy.URL, path)
	if err := ping(cl); err != nil {
		t.Fatal(err)
	}

	proxy.password.Store("other-secret")
	write(t, path, "other-secret")
	if err := os.Chtimes(path, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	err = ping(cl)
	if !errors.Is(err, osclient.ErrUnauthorized) {
		t.Fatalf("first ping after the rewrite: %v, want %v", err, osclient.ErrUnauthorized)
	}
	if err := ping(cl); err != nil {
		t.Fatalf("second ping, after a 401: %v", err)
	}
}

// Until the file holds the password the server wants, every ping says the
// credentials are refused; it never says OpenSearch is unreachable.
func TestWrongPasswordIsNamedAsSuch(t *testing.T) {
	proxy := newAuthProxy(t, "right")
	path := filepath.Join(t.TempDir(), "password")
	write(t, path, "wrong")
	cl := client(t, proxy.URL, path)
	for range 3 {
		if err := ping(cl); !errors.Is(err, osclient.ErrUnauthorized) {
			t.Fatalf("ping with a wrong password: %v, want %v", err, osclient.ErrUnauthorized)
		}
	}
	write(t, path, "right")
	if err := ping(cl); err != nil {
		t.Fatal(err)
	}
}
