package gateway

import (
	"errors"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/jetlog/jetlog/services/gateway/auth"
	"github.com/jetlog/jetlog/services/gateway/httpin"
	"github.com/jetlog/jetlog/services/gateway/otlp"
)

// deniedLogEvery is the least time between two log lines of refused
// requests of one reason, so a client hammering with a bad token does not
// flood the log (the metric counts every one).
const deniedLogEvery = 10 * time.Second

// authenticate answers 401 to a request without a valid credential, before
// its body is read or takes room in the in-flight budget, and hands the
// credential found to the protocols, which hold each record to its
// sources.
func (g *Gateway) authenticate(next http.Handler) http.Handler {
	logs := map[string]*rate.Sometimes{}
	for _, r := range []string{auth.ReasonMissing, auth.ReasonInvalid} {
		logs[r] = &rate.Sometimes{Interval: deniedLogEvery}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, err := g.auth.Request(r)
		if err == nil {
			next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), who)))
			return
		}
		protocol := protocolOf(r)
		reason := auth.ReasonOf(err)
		g.m.AuthFailures.WithLabelValues(protocol, reason).Inc()
		g.m.Requests.WithLabelValues(protocol, "denied").Inc()
		logs[reason].Do(func() {
			var credential string
			if ae := (*auth.Error)(nil); errors.As(err, &ae) {
				credential = ae.Credential
			}
			g.log.Warn("request refused: authentication failed", "protocol", protocol, "reason", reason, "credential", credential,
				"err", err, "remote", r.RemoteAddr, "user_agent", r.UserAgent(), "path", r.URL.Path)
		})
		for _, c := range g.auth.Challenges(err) {
			w.Header().Add("WWW-Authenticate", c)
		}
		if protocol == otlp.Protocol {
			otlp.Refuse(w, r, http.StatusUnauthorized, err)
			return
		}
		httpin.Refuse(w, r, http.StatusUnauthorized, err)
	})
}

// protocolOf names the protocol of an HTTP request, as its metrics do:
// otlp, bulk or http.
func protocolOf(r *http.Request) string {
	if r.URL.Path == otlp.Path {
		return otlp.Protocol
	}
	return httpin.Protocol(r)
}
