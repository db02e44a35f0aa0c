package parse

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/oschwald/geoip2-golang/v2"
)

// GeoIP looks IP addresses up in a MaxMind GeoIP2 or GeoLite2 database
// (City, Country, Enterprise, ASN or ISP). It is safe for concurrent use;
// Close may be called while lookups run, which then return false.
type GeoIP struct {
	mu     sync.RWMutex
	db     *geoip2.Reader // nil once closed
	asn    bool           // an ASN or ISP database
	dbType string
}

// OpenGeoIP opens the MaxMind database at path (memory-mapped). The database
// type in its metadata decides what Lookup returns: location fields for City,
// Country and Enterprise databases, asn and as_org for ASN and ISP ones.
func OpenGeoIP(path string) (*GeoIP, error) {
	db, err := geoip2.Open(path)
	if err != nil {
		var unknown geoip2.UnknownDatabaseTypeError
		if errors.As(err, &unknown) {
			if db != nil {
				_ = db.Close()
			}
			return nil, fmt.Errorf("geoip: %w: %s is a %q database; want a GeoIP2/GeoLite2 City, Country, Enterprise, ASN or ISP database",
				ErrInvalidOption, path, unknown.DatabaseType)
		}
		return nil, fmt.Errorf("geoip: open %s: %w (download GeoLite2-City.mmdb from MaxMind and set the stage's database path)", path, err)
	}
	// Ask the reader which lookups the database supports: City covers the
	// City, Country and Enterprise types, ASN the ASN and ISP ones.
	t := db.Metadata().DatabaseType
	probe := netip.IPv4Unspecified()
	var method geoip2.InvalidMethodError
	if _, err := db.City(probe); !errors.As(err, &method) {
		return &GeoIP{db: db, dbType: t}, nil
	}
	if _, err := db.ASN(probe); !errors.As(err, &method) {
		return &GeoIP{db: db, dbType: t, asn: true}, nil
	}
	_ = db.Close()
	return nil, fmt.Errorf("geoip: %w: %s is a %q database, which has neither locations nor AS numbers; want a GeoIP2/GeoLite2 City, Country, Enterprise, ASN or ISP database",
		ErrInvalidOption, path, t)
}

// DatabaseType returns the type named in the database's metadata, such as
// "GeoLite2-City".
func (g *GeoIP) DatabaseType() string { return g.dbType }

// Lookup returns what the database knows about ip (IPv4 or IPv6, optionally
// in brackets). From a City-type database: country_iso_code, country_name,
// city_name, continent_code, region_iso_code (ISO 3166-2, e.g. "GB-ENG"),
// region_name, timezone, and location {lat, lon} shaped for an OpenSearch
// geo_point; from an ASN-type database: asn (int64) and as_org. Names are in
// English and empty fields are left out. It returns false for text that is
// not an IP address, for private, loopback, link-local, multicast and
// unspecified addresses, for addresses the database does not hold, and after
// Close.
func (g *GeoIP) Lookup(ip string) (map[string]any, bool) {
	addr, err := netip.ParseAddr(strings.Trim(strings.TrimSpace(ip), "[]"))
	if err != nil {
		return nil, false
	}
	addr = addr.Unmap().WithZone("")
	if !addr.IsGlobalUnicast() || addr.IsPrivate() {
		return nil, false
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.db == nil {
		return nil, false
	}
	if g.asn {
		return g.lookupASN(addr)
	}
	return g.lookupCity(addr)
}

func (g *GeoIP) lookupASN(addr netip.Addr) (map[string]any, bool) {
	rec, err := g.db.ASN(addr)
	if err != nil || rec == nil || !rec.HasData() {
		return nil, false
	}
	out := map[string]any{}
	if rec.AutonomousSystemNumber != 0 {
		out["asn"] = int64(rec.AutonomousSystemNumber)
	}
	setNonEmpty(out, "as_org", rec.AutonomousSystemOrganization)
	return out, true
}

func (g *GeoIP) lookupCity(addr netip.Addr) (map[string]any, bool) {
	rec, err := g.db.City(addr)
	if err != nil || rec == nil || !rec.HasData() {
		return nil, false
	}
	out := map[string]any{}
	setNonEmpty(out, "country_iso_code", rec.Country.ISOCode)
	setNonEmpty(out, "country_name", rec.Country.Names.English)
	setNonEmpty(out, "city_name", rec.City.Names.English)
	setNonEmpty(out, "continent_code", rec.Continent.Code)
	if len(rec.Subdivisions) > 0 {
		sub := rec.Subdivisions[0]
		if sub.ISOCode != "" && rec.Country.ISOCode != "" {
			out["region_iso_code"] = rec.Country.ISOCode + "-" + sub.ISOCode
		}
		setNonEmpty(out, "region_name", sub.Names.English)
	}
	setNonEmpty(out, "timezone", rec.Location.TimeZone)
	if rec.Location.HasCoordinates() {
		out["location"] = map[string]any{"lat": *rec.Location.Latitude, "lon": *rec.Location.Longitude}
	}
	if len(out) == 0 {
		return nil, false
	}
	return out, true
}

// Close releases the database. It is idempotent; lookups after Close return
// false.
func (g *GeoIP) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.db == nil {
		return nil
	}
	err := g.db.Close()
	g.db = nil
	return err
}
