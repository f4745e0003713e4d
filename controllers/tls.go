package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/acm"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/dns"
	"github.com/istio-alb-operator/istio-alb-operator/aws/elbv2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/controllers/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/controllers/frontend"
)

// Event reasons of the TLS step.
const (
	ReasonCertificateNotFound  = "CertificateNotFound"
	ReasonCertificateRequested = "CertificateRequested"
	ReasonCertificatePending   = "CertificatePending"
	ReasonCertificateFailed    = "CertificateFailed"
	ReasonTooManyCertificates  = "TooManyCertificates"
	ReasonUnsupportedTLS       = "UnsupportedTLSMode"
	ReasonUnsupportedListener  = "UnsupportedListener"
)

// pendingRetry is how soon a gateway waiting for a certificate is looked at again.
const pendingRetry = 15 * time.Second

// validationTTL is the TTL of the ACM validation CNAMEs the operator writes.
const validationTTL = 300

// TLS decides a gateway's HTTPS listener: the security policy and the ACM certificates, given,
// discovered from the gateway's hosts, or requested and validated through Route53.
type TLS struct {
	Catalog  *acm.Catalog
	Policies *elbv2.SSLPolicies
	ACM      acm.API
	Tagging  tags.TaggingAPI
	Zones    *dns.Zones
	// DefaultSSLPolicy applies when the Gateway names none.
	DefaultSSLPolicy string

	mu sync.Mutex
	// validated are the certificates whose validation records were written.
	validated map[string]bool
}

// note is something the user should know that does not stop the reconcile.
type note struct {
	eventType, reason, message string
}

// tlsPlan is the outcome of the TLS step.
type tlsPlan struct {
	certificates []string
	policy       string
	notes        []note
	// retryAfter is set while a requested certificate is pending.
	retryAfter time.Duration
}

func (t *TLS) plan(ctx context.Context, owner tags.Owner, fe *frontend.Frontend, cfg annotations.Config) (tlsPlan, error) {
	var p tlsPlan
	refs := false
	for _, s := range fe.Servers {
		refs = refs || s.CertificateRefs
		switch {
		case s.Protocol == "TCP" || s.Protocol == "UDP":
			p.notes = append(p.notes, note{corev1.EventTypeWarning, ReasonUnsupportedListener, fmt.Sprintf(
				"%s cannot go behind an ALB, which carries HTTP and HTTPS only; it is not exposed", s.Describe())})
		case s.TLSMode != "" && !s.Terminable():
			p.notes = append(p.notes, note{corev1.EventTypeWarning, ReasonUnsupportedTLS, fmt.Sprintf(
				"%s has TLS mode %s, which cannot work behind an ALB (the ALB terminates TLS); it is not exposed, use SIMPLE/Terminate or a plain HTTP server",
				s.Describe(), s.TLSMode)})
		}
	}
	p.policy = cfg.SSLPolicy
	if p.policy == "" {
		p.policy = t.DefaultSSLPolicy
	}
	if ok, err := t.Policies.Exists(ctx, p.policy); err != nil {
		return p, err
	} else if !ok && cfg.SSLPolicy != "" {
		return p, userErrorf(ReasonInvalidAnnotation, "annotation %s=%q: ELBv2 has no such security policy", annotations.SSLPolicy, cfg.SSLPolicy)
	} else if !ok {
		return p, userErrorf(ReasonInvalidAnnotation, "the operator's --default-ssl-policy %q is not an ELBv2 security policy; set %s on the Gateway", p.policy, annotations.SSLPolicy)
	}

	if len(cfg.CertificateARNs) > 0 {
		for _, arn := range cfg.CertificateARNs {
			c, err := t.Catalog.Describe(ctx, arn)
			switch {
			case acm.IsNotFound(err):
				return p, userErrorf(ReasonInvalidAnnotation, "annotation %s: certificate %s does not exist", annotations.CertificateARNs, arn)
			case err != nil:
				return p, err
			case !c.Usable(time.Now()):
				return p, userErrorf(ReasonInvalidAnnotation, "annotation %s: certificate %s is %s, not ISSUED", annotations.CertificateARNs, arn, c.Status)
			}
		}
		p.certificates = cfg.CertificateARNs
		return p, nil
	}

	hosts := build.Hosts(fe, cfg)
	issued, err := t.Catalog.Issued(ctx)
	if err != nil {
		return p, err
	}
	sel := acm.Select(hosts, issued, time.Now())
	if len(sel.Uncovered) > 0 && cfg.RequestCertificate {
		extra, err := t.request(ctx, owner, sel.Uncovered, &p)
		if err != nil {
			return p, err
		}
		sel = acm.Select(hosts, append(slices.Clone(issued), extra...), time.Now())
	}
	if len(sel.Uncovered) > 0 && !cfg.RequestCertificate {
		hint := ""
		if refs {
			hint = "; the listener's certificateRefs are Kubernetes Secrets, which an ALB cannot use: import the certificate into ACM"
		}
		// One event for all hosts: the recorder folds events of one reason into a series.
		p.notes = append(p.notes, note{corev1.EventTypeWarning, ReasonCertificateNotFound, fmt.Sprintf(
			"no ISSUED ACM certificate covers host(s) %s; served over HTTP only (import or request one, or set %s=true or %s)%s",
			strings.Join(sel.Uncovered, ", "), annotations.RequestCertificate, annotations.CertificateARNs, hint)})
	}
	if len(sel.ARNs) > annotations.MaxCertificates {
		return p, userErrorf(ReasonTooManyCertificates, "hosts %s need %d certificates; an ALB listener takes at most %d (a default and %d SNI): use certificates with more names or set %s",
			strings.Join(hosts, ","), len(sel.ARNs), annotations.MaxCertificates, annotations.MaxCertificates-1, annotations.CertificateARNs)
	}
	p.certificates = sel.ARNs
	return p, nil
}

// request makes sure a certificate is requested for each uncovered host and its validation
// records are in Route53; it returns the requested certificates already ISSUED.
func (t *TLS) request(ctx context.Context, owner tags.Owner, hosts []string, p *tlsPlan) ([]acm.Certificate, error) {
	reqs := &acm.Requests{API: t.ACM, Tagging: t.Tagging, Catalog: t.Catalog, Owner: owner}
	before, err := reqs.Mine(ctx)
	if err != nil {
		return nil, err
	}
	got, err := reqs.Ensure(ctx, hosts, before)
	if err != nil {
		return nil, err
	}
	var issued []acm.Certificate
	for _, h := range hosts {
		c := got[h]
		switch c.Status {
		case acm.StatusIssued:
			issued = append(issued, c)
		case acm.StatusPending:
			p.retryAfter = pendingRetry
			if !slices.ContainsFunc(before, func(b acm.Certificate) bool { return b.ARN == c.ARN }) {
				p.notes = append(p.notes, note{corev1.EventTypeNormal, ReasonCertificateRequested, fmt.Sprintf("requested ACM certificate %s for %s (DNS validation)", c.ARN, h)})
			}
			if err := t.writeValidation(ctx, c, p); err != nil {
				return nil, err
			}
		default:
			p.notes = append(p.notes, note{corev1.EventTypeWarning, ReasonCertificateFailed, fmt.Sprintf(
				"ACM certificate %s requested for %s is %s; delete it in ACM to have a new one requested", c.ARN, h, c.Status)})
		}
	}
	return issued, nil
}

// writeValidation puts a pending certificate's validation CNAMEs into the public zones that own
// them, once per certificate. They stay after issuance: ACM renews through them.
func (t *TLS) writeValidation(ctx context.Context, c acm.Certificate, p *tlsPlan) error {
	t.mu.Lock()
	done := t.validated[c.ARN]
	t.mu.Unlock()
	if done || len(c.Validation) == 0 {
		// ACM computes the records a few seconds after the request; the next retry writes them.
		return nil
	}
	var records []dns.Record
	for _, r := range c.Validation {
		records = append(records, dns.Record{Name: r.Name, Type: r.Type, Value: r.Value})
	}
	unowned, err := t.Zones.Upsert(ctx, records, validationTTL)
	if err != nil {
		return err
	}
	if len(unowned) > 0 {
		p.notes = append(p.notes, note{corev1.EventTypeWarning, ReasonCertificatePending, fmt.Sprintf(
			"no public hosted zone owns %s: add the validation records of certificate %s yourself", strings.Join(unowned, ","), c.ARN)})
	} else {
		p.notes = append(p.notes, note{corev1.EventTypeNormal, ReasonCertificatePending, fmt.Sprintf(
			"validation records of certificate %s written to Route53; waiting for ACM to issue it", c.ARN)})
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.validated == nil {
		t.validated = map[string]bool{}
	}
	t.validated[c.ARN] = true
	return nil
}

// release deletes the certificates requested for the gateway (found by the deployer's tagging
// call), except those still used by a load balancer other than the gateway's own deleted ones
// (another gateway may have found and attached one): they are kept and reported.
func (t *TLS) release(ctx context.Context, owner tags.Owner, certificates, deletedLBs []string) ([]note, error) {
	reqs := &acm.Requests{API: t.ACM, Tagging: t.Tagging, Catalog: t.Catalog, Owner: owner}
	mine, err := reqs.Describe(ctx, certificates)
	if err != nil {
		return nil, err
	}
	var notes []note
	for _, c := range mine {
		users := slices.DeleteFunc(slices.Clone(c.InUseBy), func(arn string) bool {
			return slices.ContainsFunc(deletedLBs, func(lb string) bool { return sameLoadBalancer(arn, lb) })
		})
		if len(users) > 0 {
			notes = append(notes, note{corev1.EventTypeNormal, ReasonCleanupWaiting, fmt.Sprintf(
				"certificate %s kept: in use by %s", c.ARN, strings.Join(users, ","))})
			continue
		}
		if err := reqs.Delete(ctx, c.ARN); err != nil {
			return notes, err
		}
	}
	return notes, nil
}

// sameLoadBalancer reports whether two ELBv2 ARNs (load balancer or listener) belong to the
// same load balancer, "app/<name>/<id>".
func sameLoadBalancer(a, b string) bool {
	key := func(arn string) string {
		for _, marker := range []string{":loadbalancer/", ":listener/"} {
			if _, rest, ok := strings.Cut(arn, marker); ok {
				parts := strings.SplitN(rest, "/", 4)
				if len(parts) >= 3 {
					return strings.Join(parts[:3], "/")
				}
			}
		}
		return arn
	}
	return key(a) == key(b)
}
