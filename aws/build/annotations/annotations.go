// Package annotations parses and validates the istio-alb.io/* annotations of a Gateway into a
// typed Config, reporting every bad value as a field error that names the annotation.
package annotations

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/istio-alb-operator/istio-alb-operator/health"
)

// Prefix of every annotation the operator reads or writes.
const Prefix = "istio-alb.io/"

// Annotation keys.
const (
	Enabled                = Prefix + "enabled"
	Scheme                 = Prefix + "scheme"
	TargetType             = Prefix + "target-type"
	InboundCIDRs           = Prefix + "inbound-cidrs"
	IPAddressType          = Prefix + "ip-address-type"
	Subnets                = Prefix + "subnets"
	Tags                   = Prefix + "tags"
	LoadBalancerAttributes = Prefix + "load-balancer-attributes"
	HealthCheckPath        = Prefix + "healthcheck-path"
	HealthCheckPort        = Prefix + "healthcheck-port"
	HealthCheckInterval    = Prefix + "healthcheck-interval-seconds"
	HealthCheckTimeout     = Prefix + "healthcheck-timeout-seconds"
	HealthyThreshold       = Prefix + "healthy-threshold"
	UnhealthyThreshold     = Prefix + "unhealthy-threshold"
	SuccessCodes           = Prefix + "success-codes"
	CertificateARNs        = Prefix + "certificate-arns"
	RequestCertificate     = Prefix + "request-certificate"
	SSLPolicy              = Prefix + "ssl-policy"
	SSLRedirect            = Prefix + "ssl-redirect"
	Hostnames              = Prefix + "hostnames"
	DNS                    = Prefix + "dns"
	KeepServiceType        = Prefix + "keep-service-type"
	WAFv2ACLARN            = Prefix + "wafv2-acl-arn"
	// DryRun "true" reports the AWS changes the plan would make and writes nothing.
	DryRun = Prefix + "dry-run"
	// DryRunPlan is written by the operator on a dry-run Gateway: the changes it would make.
	DryRunPlan = Prefix + "dry-run-plan"

	// LoadBalancerDNS is written by the operator: the ALB's DNS name.
	LoadBalancerDNS = Prefix + "load-balancer-dns"
	// OriginalServiceType is written on a gateway Service the operator switched to NodePort.
	OriginalServiceType = Prefix + "original-service-type"
	// AddedServiceType is written on a Gateway API Gateway whose service-type annotation the
	// operator added (and removes at teardown).
	AddedServiceType = Prefix + "added-service-type"
)

// known are the keys a Gateway may carry: the user's and the ones the operator writes.
var known = []string{
	Enabled, Scheme, TargetType, InboundCIDRs, IPAddressType, Subnets, Tags, LoadBalancerAttributes,
	HealthCheckPath, HealthCheckPort, HealthCheckInterval, HealthCheckTimeout, HealthyThreshold,
	UnhealthyThreshold, SuccessCodes, CertificateARNs, RequestCertificate, SSLPolicy, SSLRedirect,
	Hostnames, DNS, KeepServiceType, LoadBalancerDNS, AddedServiceType,
	TargetGroupAttributes,
	WAFv2ACLARN,
	DryRun, DryRunPlan,
	Group, GroupOrder,
}

// Values of the scheme, target-type and ip-address-type annotations.
const (
	SchemeInternetFacing = "internet-facing"
	SchemeInternal       = "internal"
	TargetTypeInstance   = "instance"
	TargetTypeIP         = "ip"
	IPAddressTypeIPv4    = "ipv4"
	IPAddressTypeDual    = "dualstack"
)

// Config is a Gateway's parsed annotations, defaults applied.
type Config struct {
	Enabled       bool
	Scheme        string
	TargetType    string
	InboundCIDRs  []string
	IPAddressType string
	// Subnets are subnet ids or Name tags; empty means discovered by role tags.
	Subnets                []string
	Tags                   map[string]string
	LoadBalancerAttributes map[string]string
	HealthCheck            health.Overrides
	// CertificateARNs, when set, are the listener's certificates (first is the default) and
	// turn discovery off.
	CertificateARNs    []string
	RequestCertificate bool
	// SSLPolicy is empty when not annotated (the operator's default applies).
	SSLPolicy   string
	SSLRedirect bool
	// Hostnames are extra DNS names beside the gateway's own hosts.
	Hostnames []string
	DNS       bool
	// KeepServiceType leaves the gateway Service's type alone: the ALB is built on the
	// nodePorts the Service has (a Helm release owns the type).
	KeepServiceType bool
	// TargetGroupAttributes are the target-group attributes the user set (the operator's default
	// deregistration delay is added by the builder).
	TargetGroupAttributes map[string]string
	// WAFv2ACLARN is the REGIONAL WAFv2 web ACL to associate with the ALB; empty when not
	// annotated.
	WAFv2ACLARN string
	// DryRun plans and reports the AWS changes without making them.
	DryRun bool
	// Group is the ALB group the Gateway joins (istio-alb.io/group); empty for an ALB of its own.
	Group string
	// GroupOrder orders the group's members (istio-alb.io/group-order): lower first.
	GroupOrder int
}

// AWS limits the annotations are checked against, so that a value AWS would refuse is
// reported before anything is written.
const (
	// MaxTags is how many tags an ELBv2, EC2 or ACM resource takes.
	MaxTags = 50
	// OwnershipTags is how many of them the operator's own tags (cluster, gateway, resource) use.
	OwnershipTags = 3
	// MaxRulesPerFamily is the default quota of inbound rules of a security group, counted
	// separately for IPv4 and IPv6; each inbound CIDR takes two (ports 80 and 443).
	MaxRulesPerFamily = 60
	maxTagKey         = 128
	maxTagValue       = 256
)

var (
	successCodes = regexp.MustCompile(`^[0-9]{3}(-[0-9]{3})?(,[0-9]{3}(-[0-9]{3})?)*$`)
	// tagChars are the characters ELBv2, EC2 and ACM all accept in tag keys and values.
	tagChars  = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	attrKey   = regexp.MustCompile(`^[a-z0-9_.]+$`)
	acmARN    = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$`)
	sslPolicy = regexp.MustCompile(`^[A-Za-z0-9-]{1,128}$`)
	dnsLabel  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// DNSEnabled reports whether Route53 is managed for the Gateway (the dns annotation is not "false").
func DNSEnabled(a map[string]string) bool { return a[DNS] != "false" }

// IsEnabled reports whether the enabled annotation says "true"; any other value disables.
func IsEnabled(a map[string]string) bool { return a[Enabled] == "true" }

// Defaults are the cluster policy's values for what a Gateway does not annotate (the operator's
// --default-inbound-cidrs and --default-tags).
type Defaults struct {
	// InboundCIDRs replace 0.0.0.0/0 (and ::/0) when the inbound-cidrs annotation is absent;
	// IPv6 ones apply only to dualstack ALBs.
	InboundCIDRs []string
	// Tags are added to every resource; the tags annotation's values win over them.
	Tags map[string]string
}

// Parse reads the annotations. The returned errors name each bad annotation and its value; when
// there are any, the Config must not be acted on.
func Parse(a map[string]string) (Config, field.ErrorList) { return ParseWith(a, Defaults{}) }

// ParseWith is Parse with the cluster's defaults applied.
func ParseWith(a map[string]string, d Defaults) (Config, field.ErrorList) {
	p := parser{a: a, path: field.NewPath("metadata", "annotations"), defaults: d}
	c := Config{
		Scheme:        p.oneOf(Scheme, SchemeInternetFacing, SchemeInternetFacing, SchemeInternal),
		TargetType:    p.oneOf(TargetType, TargetTypeInstance, TargetTypeInstance, TargetTypeIP),
		IPAddressType: p.oneOf(IPAddressType, IPAddressTypeIPv4, IPAddressTypeIPv4, IPAddressTypeDual),
	}
	switch v, ok := a[Enabled]; {
	case !ok || v == "false":
	case v == "true":
		c.Enabled = true
	default:
		p.invalid(Enabled, v, `must be "true" or "false"`)
	}
	c.InboundCIDRs = p.cidrs(c.IPAddressType)
	c.Subnets = p.list(Subnets)
	c.Tags = p.tags()
	c.LoadBalancerAttributes = p.pairs(LoadBalancerAttributes, func(k string) string {
		if !attrKey.MatchString(k) {
			return "keys must be ELBv2 attribute names such as idle_timeout.timeout_seconds"
		}
		return ""
	})
	p.checkLoadBalancerAttributes(c.LoadBalancerAttributes)
	c.TargetGroupAttributes = p.pairs(TargetGroupAttributes, func(k string) string {
		if !attrKey.MatchString(k) {
			return "keys must be ELBv2 target-group attribute names such as " + DeregistrationDelay
		}
		return ""
	})
	p.checkTargetGroupAttributes(c.TargetGroupAttributes)
	if v, ok := a[HealthCheckPath]; ok {
		if !strings.HasPrefix(v, "/") || len(v) > 1024 {
			p.invalid(HealthCheckPath, v, "must be a path starting with /")
		}
		c.HealthCheck.Path = &v
	}
	if v, ok := a[HealthCheckPort]; ok {
		if n, err := strconv.Atoi(v); v != health.TrafficPort && (err != nil || n < 1 || n > 65535) {
			p.invalid(HealthCheckPort, v, `must be a port number or "traffic-port"`)
		}
		c.HealthCheck.Port = &v
	}
	c.HealthCheck.IntervalSeconds = p.int32In(HealthCheckInterval, 5, 300)
	c.HealthCheck.TimeoutSeconds = p.int32In(HealthCheckTimeout, 2, 120)
	c.HealthCheck.HealthyThreshold = p.int32In(HealthyThreshold, 2, 10)
	c.HealthCheck.UnhealthyThreshold = p.int32In(UnhealthyThreshold, 2, 10)
	if v, ok := a[SuccessCodes]; ok {
		if !HTTPCodes(v) && !GRPCCodes(v) {
			p.invalid(SuccessCodes, v, `must be HTTP codes from 200 to 499 such as "200", "200,302" or "200-299" (a range low-high), or for a gRPC target group gRPC status codes from 0 to 99 such as "0" or "0-2"`)
		}
		c.HealthCheck.SuccessCodes = &v
	}
	c.CertificateARNs = p.list(CertificateARNs)
	for _, arn := range c.CertificateARNs {
		if !acmARN.MatchString(arn) {
			p.invalid(CertificateARNs, arn, "must be ACM certificate ARNs (arn:aws:acm:<region>:<account>:certificate/<id>)")
		}
	}
	if n := len(c.CertificateARNs); n > MaxCertificates {
		p.invalid(CertificateARNs, strconv.Itoa(n)+" certificates", fmt.Sprintf("an ALB listener takes at most %d certificates (a default and %d SNI)", MaxCertificates, MaxCertificates-1))
	}
	c.RequestCertificate = p.boolean(RequestCertificate, false)
	c.SSLRedirect = p.boolean(SSLRedirect, true)
	c.DNS = p.boolean(DNS, true)
	c.KeepServiceType = p.boolean(KeepServiceType, false)
	c.DryRun = p.boolean(DryRun, false)
	if v, ok := a[SSLPolicy]; ok {
		if !sslPolicy.MatchString(v) {
			p.invalid(SSLPolicy, v, "must be an ELBv2 security policy name such as ELBSecurityPolicy-TLS13-1-2-2021-06")
		}
		c.SSLPolicy = v
	}
	c.WAFv2ACLARN = p.webACL()
	c.Group, c.GroupOrder = p.group()
	c.Hostnames = p.list(Hostnames)
	for i, h := range c.Hostnames {
		c.Hostnames[i] = strings.ToLower(strings.TrimSuffix(h, "."))
		if msg := CheckHostname(c.Hostnames[i]); msg != "" {
			p.invalid(Hostnames, h, msg)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if strings.HasPrefix(k, Prefix) && !slices.Contains(known, k) {
			p.invalid(k, a[k], fmt.Sprintf("%s is not an annotation of the operator; did you mean %s?", k, closest(k, known)))
		}
	}
	if i, t := c.HealthCheck.IntervalSeconds, c.HealthCheck.TimeoutSeconds; i != nil && t != nil && *t >= *i {
		p.invalid(HealthCheckTimeout, strconv.Itoa(int(*t)), "must be less than "+HealthCheckInterval)
	}
	return c, p.errs
}

// MaxCertificates is how many certificates one ALB listener takes: a default and 25 SNI.
const MaxCertificates = 26

// CheckHostname returns why h is not a DNS name a gateway may serve ("" when it is): at most 253
// characters, at least two labels of at most 63 lower-case letters, digits and inner hyphens,
// optionally a leading "*." wildcard label.
func CheckHostname(h string) string {
	name := strings.TrimPrefix(h, "*.")
	labels := strings.Split(name, ".")
	switch {
	case len(h) > 253:
		return fmt.Sprintf("is %d characters long; a DNS name has at most 253", len(h))
	case len(labels) < 2:
		return "must be a fully qualified DNS name such as app.example.com or *.example.com"
	}
	for _, l := range labels {
		if len(l) > 63 {
			return fmt.Sprintf("has a label of %d characters (%s...); a DNS label has at most 63", len(l), l[:16])
		}
		if !dnsLabel.MatchString(l) {
			return fmt.Sprintf("has the label %q; DNS labels are lower-case letters, digits and inner hyphens (a wildcard only as the first label, *.)", l)
		}
	}
	return ""
}

type parser struct {
	a        map[string]string
	path     *field.Path
	errs     field.ErrorList
	defaults Defaults
}

func (p *parser) invalid(key, value, msg string) {
	p.errs = append(p.errs, field.Invalid(p.path.Key(key), value, msg))
}

func (p *parser) oneOf(key, def string, allowed ...string) string {
	v, ok := p.a[key]
	if !ok {
		return def
	}
	for _, x := range allowed {
		if v == x {
			return v
		}
	}
	p.errs = append(p.errs, field.NotSupported(p.path.Key(key), v, allowed))
	return def
}

func (p *parser) list(key string) []string {
	v, ok := p.a[key]
	if !ok {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		p.invalid(key, v, "must be a comma-separated list")
	}
	return out
}

func (p *parser) cidrs(ipAddressType string) []string {
	if _, ok := p.a[InboundCIDRs]; !ok && len(p.defaults.InboundCIDRs) > 0 {
		var out []string
		for _, c := range p.defaults.InboundCIDRs {
			if !strings.Contains(c, ":") || ipAddressType == IPAddressTypeDual {
				out = append(out, c)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	if _, ok := p.a[InboundCIDRs]; !ok {
		if ipAddressType == IPAddressTypeDual {
			return []string{"0.0.0.0/0", "::/0"}
		}
		return []string{"0.0.0.0/0"}
	}
	out := p.list(InboundCIDRs)
	for _, c := range out {
		_, n, err := net.ParseCIDR(c)
		if err != nil || n.String() != c {
			p.invalid(InboundCIDRs, c, "must be a CIDR such as 10.0.0.0/8 (network address, no host bits)")
		} else if n.IP.To4() == nil && ipAddressType != IPAddressTypeDual {
			p.invalid(InboundCIDRs, c, "an IPv6 CIDR needs "+IPAddressType+": dualstack")
		}
	}
	v4, v6 := 0, 0
	for _, c := range out {
		if strings.Contains(c, ":") {
			v6++
		} else {
			v4++
		}
	}
	for _, f := range []struct {
		family string
		n      int
	}{{"IPv4", v4}, {"IPv6", v6}} {
		if f.n*2 > MaxRulesPerFamily {
			p.invalid(InboundCIDRs, fmt.Sprintf("%d %s CIDRs", f.n, f.family), fmt.Sprintf(
				"each CIDR takes two security group rules (ports 80 and 443) and a security group takes %d %s rules: at most %d %s CIDRs",
				MaxRulesPerFamily, f.family, MaxRulesPerFamily/2, f.family))
		}
	}
	sort.Strings(out)
	return out
}

// tags parses the tags annotation: valid AWS tag keys and values, not ours or AWS's, and few
// enough to fit beside the ownership tags on every resource.
func (p *parser) tags() map[string]string {
	out := p.pairs(Tags, func(k string) string {
		switch {
		case strings.HasPrefix(strings.ToLower(k), "aws:") || strings.HasPrefix(k, Prefix):
			return "keys may not start with aws: or " + Prefix
		case len(k) > maxTagKey || !tagChars.MatchString(k):
			return fmt.Sprintf("keys must be at most %d letters, digits, spaces or _.:/=+-@", maxTagKey)
		}
		return ""
	})
	for k, v := range p.defaults.Tags {
		if _, set := out[k]; !set {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(out)) {
		if v := out[k]; len(v) > maxTagValue || !tagChars.MatchString(v) {
			p.invalid(Tags, k+"="+v, fmt.Sprintf("tag values must be at most %d letters, digits, spaces or _.:/=+-@ (ELBv2, EC2 and ACM refuse others)", maxTagValue))
		}
	}
	if n := len(out); n > MaxTags-OwnershipTags {
		p.invalid(Tags, fmt.Sprintf("%d tags", n), fmt.Sprintf("an AWS resource takes %d tags and the operator's ownership tags use %d: at most %d",
			MaxTags, OwnershipTags, MaxTags-OwnershipTags))
	}
	return out
}

// codesIn reports whether every code and range of an HTTP matcher lies in [lo, hi], ranges
// ascending.
func codesIn(v string, lo, hi int) bool {
	for _, part := range strings.Split(v, ",") {
		from, to, isRange := strings.Cut(part, "-")
		a, _ := strconv.Atoi(from)
		b := a
		if isRange {
			b, _ = strconv.Atoi(to)
		}
		if a < lo || b > hi || a > b || (isRange && a == b) {
			return false
		}
	}
	return true
}

func (p *parser) pairs(key string, checkKey func(string) string) map[string]string {
	items := p.list(key)
	if items == nil {
		return nil
	}
	out := make(map[string]string, len(items))
	for _, item := range items {
		k, v, ok := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			p.invalid(key, item, "must be key=value pairs separated by commas")
			continue
		}
		if msg := checkKey(k); msg != "" {
			p.invalid(key, k, msg)
			continue
		}
		out[k] = v
	}
	return out
}

func (p *parser) boolean(key string, def bool) bool {
	switch v, ok := p.a[key]; {
	case !ok:
		return def
	case v == "true":
		return true
	case v == "false":
		return false
	default:
		p.invalid(key, v, `must be "true" or "false"`)
		return def
	}
}

func (p *parser) int32In(key string, min, max int) *int32 {
	v, ok := p.a[key]
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		p.invalid(key, v, fmt.Sprintf("must be an integer from %d to %d", min, max))
		return nil
	}
	n32 := int32(n)
	return &n32
}

// closest returns the candidate nearest to key by edit distance (a typo's likely intent).
func closest(key string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		if d := distance(key, c); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Damerau-Levenshtein (optimal string alignment) distance: insertions,
// deletions, substitutions and swaps of neighbours each count one.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
