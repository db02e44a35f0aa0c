package parse

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// writeMMDB builds a MaxMind database of type dbType holding records
// (CIDR → record) in a temporary directory and returns its path.
func writeMMDB(t testing.TB, dbType string, records map[string]mmdbtype.Map) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, IncludeReservedNetworks: true, Languages: []string{"en"}})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range records {
		_, network, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(network, rec); err != nil {
			t.Fatalf("insert %s: %v", cidr, err)
		}
	}
	path := filepath.Join(t.TempDir(), dbType+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func names(en string) mmdbtype.Map { return mmdbtype.Map{"en": mmdbtype.String(en)} }

// testCityDB writes a small GeoLite2-City database: 81.2.69.0/24 in London
// and 2001:db8::/32 in Berlin.
func testCityDB(t testing.TB) string {
	t.Helper()
	return writeMMDB(t, "GeoLite2-City", map[string]mmdbtype.Map{
		"81.2.69.0/24": {
			"city":      mmdbtype.Map{"names": names("London"), "geoname_id": mmdbtype.Uint32(2643743)},
			"continent": mmdbtype.Map{"code": mmdbtype.String("EU"), "names": names("Europe")},
			"country":   mmdbtype.Map{"iso_code": mmdbtype.String("GB"), "names": names("United Kingdom")},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(51.5142), "longitude": mmdbtype.Float64(-0.0931),
				"time_zone": mmdbtype.String("Europe/London"), "accuracy_radius": mmdbtype.Uint16(10)},
			"subdivisions": mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String("ENG"), "names": names("England")}},
		},
		"2001:db8::/32": {
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String("DE"), "names": names("Germany")},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(52.5), "longitude": mmdbtype.Float64(13.4)},
		},
	})
}

func TestGeoIPCity(t *testing.T) {
	g, err := OpenGeoIP(testCityDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	if g.DatabaseType() != "GeoLite2-City" {
		t.Errorf("type %q", g.DatabaseType())
	}
	london := map[string]any{
		"country_iso_code": "GB", "country_name": "United Kingdom", "city_name": "London", "continent_code": "EU",
		"region_iso_code": "GB-ENG", "region_name": "England", "timezone": "Europe/London",
		"location": map[string]any{"lat": 51.5142, "lon": -0.0931},
	}
	berlin := map[string]any{"country_iso_code": "DE", "country_name": "Germany", "location": map[string]any{"lat": 52.5, "lon": 13.4}}
	tests := []struct {
		name string
		ip   string
		want map[string]any // nil: not found
	}{
		{"IPv4", "81.2.69.142", london},
		{"IPv4 with spaces", " 81.2.69.1\n", london},
		{"IPv4-mapped IPv6", "::ffff:81.2.69.142", london},
		{"IPv6", "2001:db8::1", berlin},
		{"IPv6 in brackets", "[2001:db8:ffff::1]", berlin},
		{"not in the database", "8.8.8.8", nil},
		{"IPv6 not in the database", "2a00:1450::1", nil},
		{"private", "10.1.2.3", nil},
		{"private 192.168", "192.168.0.1", nil},
		{"loopback", "127.0.0.1", nil},
		{"IPv6 loopback", "::1", nil},
		{"link-local", "fe80::1%eth0", nil},
		{"unique local", "fd00::1", nil},
		{"unspecified", "0.0.0.0", nil},
		{"multicast", "224.0.0.1", nil},
		{"not an IP", "example.com", nil},
		{"with a port", "81.2.69.142:443", nil},
		{"empty", "", nil},
		{"NUL bytes", "81.2.69.142\x00", nil},
		{"invalid UTF-8", "\xff", nil},
		{"10 MB", strings.Repeat("1", 10<<20), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := g.Lookup(tt.ip)
			if ok != (tt.want != nil) {
				t.Fatalf("ok = %v, want %v (%v)", ok, tt.want != nil, got)
			}
			if ok && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestGeoIPASN(t *testing.T) {
	for _, dbType := range []string{"GeoLite2-ASN", "GeoIP2-ISP"} {
		t.Run(dbType, func(t *testing.T) {
			path := writeMMDB(t, dbType, map[string]mmdbtype.Map{
				"81.2.69.0/24": {"autonomous_system_number": mmdbtype.Uint32(20712), "autonomous_system_organization": mmdbtype.String("Andrews & Arnold Ltd")},
			})
			g, err := OpenGeoIP(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = g.Close() })
			got, ok := g.Lookup("81.2.69.160")
			want := map[string]any{"asn": int64(20712), "as_org": "Andrews & Arnold Ltd"}
			if !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("got %v %v, want %v", got, ok, want)
			}
			if _, ok := g.Lookup("1.1.1.1"); ok {
				t.Error("found an address not in the database")
			}
		})
	}
}

func TestGeoIPCountry(t *testing.T) {
	path := writeMMDB(t, "GeoLite2-Country", map[string]mmdbtype.Map{
		"81.2.69.0/24": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("GB"), "names": names("United Kingdom")},
			"continent": mmdbtype.Map{"code": mmdbtype.String("EU")}},
	})
	g, err := OpenGeoIP(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	got, ok := g.Lookup("81.2.69.1")
	want := map[string]any{"country_iso_code": "GB", "country_name": "United Kingdom", "continent_code": "EU"}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v %v, want %v", got, ok, want)
	}
}

func TestOpenGeoIPErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr error
		errHas  string
	}{
		{"missing file", filepath.Join(dir, "nope.mmdb"), nil, "nope.mmdb"},
		{"not a database", garbage, nil, "garbage.mmdb"},
		{"unsupported type", writeMMDB(t, "Acme-Weather", map[string]mmdbtype.Map{"81.2.69.0/24": {"rain": mmdbtype.Bool(true)}}),
			ErrInvalidOption, `"Acme-Weather" database`},
		{"a type without locations or AS numbers", writeMMDB(t, "GeoIP2-Domain", map[string]mmdbtype.Map{"81.2.69.0/24": {"domain": mmdbtype.String("example.com")}}),
			ErrInvalidOption, `"GeoIP2-Domain" database, which has neither`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := OpenGeoIP(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("err = %v, want one containing %q", err, tt.errHas)
			}
			if g != nil {
				t.Error("a GeoIP with an error")
			}
		})
	}
}

func TestGeoIPClose(t *testing.T) {
	g, err := OpenGeoIP(testCityDB(t))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				g.Lookup("81.2.69.142") // true or, once closed, false; never a crash
			}
		})
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := g.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, ok := g.Lookup("81.2.69.142"); ok {
		t.Error("lookup after Close")
	}
}

func FuzzGeoIPLookup(f *testing.F) {
	for _, s := range []string{"81.2.69.142", "2001:db8::1", "::ffff:81.2.69.1", "[2001:db8::]", "fe80::1%eth0", "10.0.0.1", "x", ""} {
		f.Add(s)
	}
	g, err := OpenGeoIP(testCityDB(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = g.Close() })
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := g.Lookup(s)
		if ok && m["country_iso_code"] != "GB" && m["country_iso_code"] != "DE" {
			t.Fatalf("%q found %v", s, m)
		}
	})
}
