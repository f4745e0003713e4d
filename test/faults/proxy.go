// Package faults is an HTTP proxy the scenarios put between the operator and the AWS endpoint
// (the operator's --aws-endpoint-url points at it) to inject the faults of a real account: it can
// let the N-th write reach AWS and kill the operator before it hears the answer, answer a
// fraction of the calls with each service's own throttling error, and hide resources younger
// than a lag from the tagging API, as its eventual consistency does.
package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
)

// Call is one AWS call the proxy saw.
type Call struct {
	Service   string // the signing name: ec2, elasticloadbalancing, route53, acm, tagging
	Operation string
	Write     bool
	// Throttled says the proxy answered it with a throttling error instead of AWS.
	Throttled bool
	At        time.Time
	// Took is how long AWS took to answer (zero when the proxy answered).
	Took time.Duration
}

// Proxy forwards to the AWS endpoint, injecting the faults it is set to.
type Proxy struct {
	target *url.URL
	server *http.Server
	addr   string

	mu       sync.Mutex
	calls    []Call
	writes   int
	killAt   int
	kill     func()
	killed   bool
	throttle float64
	rng      *rand.Rand
	lag      time.Duration
	created  map[string]time.Time // resource id (ARN or group id) → when its create was answered
	// refuseOp and refuseMatch: calls of the operation whose body has the match are throttled.
	refuseOp, refuseMatch string
}

// Start serves the proxy on 127.0.0.1 in front of target (e.g. http://127.0.0.1:4566).
func Start(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: u, addr: l.Addr().String(), created: map[string]time.Time{}, rng: rand.New(rand.NewPCG(1, 2))}
	p.server = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.server.Serve(l) }()
	return p, nil
}

// URL is the proxy's address, for --aws-endpoint-url.
func (p *Proxy) URL() string { return "http://" + p.addr }

// Close stops the proxy.
func (p *Proxy) Close() error { return p.server.Close() }

// KillAfterWrite lets the n-th write from now reach AWS, then calls kill (which kills the
// operator) before the answer is returned; the answer is never delivered. n <= 0 turns it off.
func (p *Proxy) KillAfterWrite(n int, kill func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writes, p.killAt, p.kill, p.killed = 0, n, kill, false
}

// Killed reports whether the kill happened.
func (p *Proxy) Killed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killed
}

// Throttle answers this fraction of the calls (0 to 1) with the service's throttling error.
func (p *Proxy) Throttle(fraction float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.throttle = fraction
}

// Refuse answers every call of the operation whose request body contains match with the
// service's throttling error, until Refuse("", "").
func (p *Proxy) Refuse(op, match string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuseOp, p.refuseMatch = op, match
}

// HideFromTagging leaves resources younger than lag out of the tagging API's GetResources.
func (p *Proxy) HideFromTagging(lag time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lag = lag
}

// Calls returns the calls seen since the index from (use len of an earlier result).
func (p *Proxy) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

var credentialScope = regexp.MustCompile(`Credential=[^/]+/[0-9]+/[^/]+/([^/]+)/aws4_request`)

// identify names the service and operation of a request; body is the request body.
func identify(r *http.Request, body []byte) (service, operation string) {
	if m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		service = m[1]
	}
	switch {
	case r.Header.Get("X-Amz-Target") != "":
		t := r.Header.Get("X-Amz-Target")
		operation = t[strings.LastIndex(t, ".")+1:]
	case service == "route53":
		operation = route53Operation(r)
	default:
		if v, err := url.ParseQuery(string(body)); err == nil {
			operation = v.Get("Action")
		}
	}
	return service, operation
}

func route53Operation(r *http.Request) string {
	path := strings.TrimPrefix(r.URL.Path, "/2013-04-01")
	switch {
	case strings.HasSuffix(path, "/rrset") || strings.HasSuffix(path, "/rrset/"):
		if r.Method == http.MethodPost {
			return "ChangeResourceRecordSets"
		}
		return "ListResourceRecordSets"
	case strings.HasPrefix(path, "/hostedzonesbyvpc"):
		return "ListHostedZonesByVPC"
	case strings.HasPrefix(path, "/hostedzone") && r.Method == http.MethodGet:
		return "ListHostedZones"
	}
	return r.Method + " " + path
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	service, op := identify(r, body)
	call := Call{Service: service, Operation: op, Write: clients.IsMutating(op), At: time.Now()}

	p.mu.Lock()
	throttled := (p.throttle > 0 && p.rng.Float64() < p.throttle) ||
		(p.refuseOp != "" && op == p.refuseOp && bytes.Contains(body, []byte(p.refuseMatch)))
	call.Throttled = throttled
	p.calls = append(p.calls, call)
	index := len(p.calls) - 1
	kill := false
	if call.Write && !throttled && p.killAt > 0 && !p.killed {
		p.writes++
		kill = p.writes == p.killAt
	}
	lag := p.lag
	p.mu.Unlock()

	if throttled {
		writeThrottling(w, service)
		return
	}
	rec := &recorder{header: http.Header{}}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	began := time.Now()
	(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(p.target); pr.Out.Host = pr.In.Host }}).ServeHTTP(rec, r)
	p.mu.Lock()
	p.calls[index].Took = time.Since(began)
	p.mu.Unlock()
	p.noteCreates(service, op, rec.body.Bytes())
	if kill {
		p.mu.Lock()
		p.killed = true
		k := p.kill
		p.mu.Unlock()
		if k != nil {
			k()
		}
		// The answer is never delivered: the operator that asked is gone.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		http.Error(w, "operator killed", http.StatusBadGateway)
		return
	}
	out := rec.body.Bytes()
	if lag > 0 && op == "GetResources" {
		out = p.hideYoung(out, lag)
		rec.header.Del("Content-Length")
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(out)
}

var (
	elbARN  = regexp.MustCompile(`<(?:LoadBalancerArn|TargetGroupArn)>([^<]+)</`)
	groupID = regexp.MustCompile(`<groupId>(sg-[^<]+)</groupId>`)
	certARN = regexp.MustCompile(`"CertificateArn"\s*:\s*"([^"]+)"`)
)

// noteCreates remembers when each resource a create made was answered.
func (p *Proxy) noteCreates(service, op string, body []byte) {
	var ids []string
	switch op {
	case "CreateLoadBalancer", "CreateTargetGroup":
		for _, m := range elbARN.FindAllSubmatch(body, -1) {
			ids = append(ids, string(m[1]))
		}
	case "CreateSecurityGroup":
		for _, m := range groupID.FindAllSubmatch(body, -1) {
			ids = append(ids, string(m[1]))
		}
	case "RequestCertificate":
		for _, m := range certARN.FindAllSubmatch(body, -1) {
			ids = append(ids, string(m[1]))
		}
	}
	if len(ids) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		if _, seen := p.created[id]; !seen {
			p.created[id] = time.Now()
		}
	}
}

// hideYoung drops from a GetResources answer the resources created less than lag ago.
func (p *Proxy) hideYoung(body []byte, lag time.Duration) []byte {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return body
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(doc["ResourceTagMappingList"], &list); err != nil {
		return body
	}
	p.mu.Lock()
	young := func(arn string) bool {
		for id, at := range p.created {
			if (arn == id || strings.HasSuffix(arn, "/"+id)) && time.Since(at) < lag {
				return true
			}
		}
		return false
	}
	var kept []map[string]json.RawMessage
	for _, item := range list {
		var arn string
		_ = json.Unmarshal(item["ResourceARN"], &arn)
		if !young(arn) {
			kept = append(kept, item)
		}
	}
	p.mu.Unlock()
	if kept == nil {
		kept = []map[string]json.RawMessage{}
	}
	raw, err := json.Marshal(kept)
	if err != nil {
		return body
	}
	doc["ResourceTagMappingList"] = raw
	out, err := json.Marshal(doc)
	if err != nil {
		return body
	}
	return out
}

// writeThrottling answers with the throttling error of the service, in its protocol, as AWS does.
func writeThrottling(w http.ResponseWriter, service string) {
	switch service {
	case "ec2":
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>fault-injection</RequestID></Response>`)
	case "acm":
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"ThrottlingException","message":"Rate exceeded"}`)
	case "tagging":
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"ThrottledException","Message":"Rate exceeded"}`)
	case "route53":
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault-injection</RequestId></ErrorResponse>`)
	default: // elasticloadbalancing and other query services
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault-injection</RequestId></ErrorResponse>`)
	}
}

// recorder collects the upstream answer, so it can be changed or withheld.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }
