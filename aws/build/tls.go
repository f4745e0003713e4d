package build

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
)

// tlsPlan is the HTTPS side of a plan.
type tlsPlan struct {
	certificates []string
	policy       string
	request      []string
	pending      []model.Certificate
	notes        []Note
	retryAfter   time.Duration
}

// planTLS decides the HTTPS listener: its security policy and its ACM certificates, given
// (checked: same region and account, existing, issued), or discovered from the gateway's hosts,
// or requested for the hosts nothing covers.
func planTLS(in Input, cfg annotations.Config) (tlsPlan, []Problem) {
	var t tlsPlan
	var probs []Problem
	if !in.AWS.Read {
		for _, arn := range cfg.CertificateARNs {
			if msg := checkCertificateHome(arn, in); msg != "" {
				probs = append(probs, Problem{Reason: ReasonInvalidAnnotation, Message: fmt.Sprintf(
					"annotation %s: certificate %s %s", annotations.CertificateARNs, arn, msg)})
			}
		}
		return t, probs
	}
	t.policy = cfg.SSLPolicy
	if t.policy == "" {
		t.policy = in.AWS.DefaultSSLPolicy
	}
	switch known, asked := in.AWS.SSLPolicies[t.policy]; {
	case !asked || known:
	case cfg.SSLPolicy != "":
		probs = append(probs, Problem{Reason: ReasonInvalidAnnotation, Message: fmt.Sprintf(
			"annotation %s=%q: ELBv2 has no such security policy", annotations.SSLPolicy, cfg.SSLPolicy)})
	default:
		probs = append(probs, Problem{Reason: ReasonInvalidAnnotation, Message: fmt.Sprintf(
			"the operator's --default-ssl-policy %q is not an ELBv2 security policy; set %s on the Gateway", t.policy, annotations.SSLPolicy)})
	}

	if len(cfg.CertificateARNs) > 0 {
		for _, arn := range cfg.CertificateARNs {
			if msg := checkCertificate(arn, in); msg != "" {
				probs = append(probs, Problem{Reason: ReasonInvalidAnnotation, Message: fmt.Sprintf(
					"annotation %s: certificate %s %s", annotations.CertificateARNs, arn, msg)})
			}
		}
		t.certificates = cfg.CertificateARNs
		return t, probs
	}

	hosts := Hosts(in.Gateway, cfg)
	usable := slices.Clone(in.AWS.Issued)
	for _, c := range in.AWS.Requested {
		if c.Usable(in.Now) && !slices.ContainsFunc(usable, func(u model.Certificate) bool { return u.ARN == c.ARN }) {
			usable = append(usable, c)
		}
	}
	sel := Select(hosts, usable, in.Now)
	if len(sel.Uncovered) > 0 && cfg.RequestCertificate {
		for _, h := range sel.Uncovered {
			c, found := requestedFor(in.AWS.Requested, h)
			switch {
			case !found:
				t.request = append(t.request, h)
				t.retryAfter = PendingRetry
			case c.Status == model.CertificatePending:
				t.pending = append(t.pending, c)
				t.retryAfter = PendingRetry
			default:
				t.notes = append(t.notes, Note{true, ReasonCertificateFailed, fmt.Sprintf(
					"ACM certificate %s requested for %s is %s; delete it in ACM to have a new one requested", c.ARN, h, c.Status)})
			}
		}
	}
	if len(sel.Uncovered) > 0 && !cfg.RequestCertificate {
		hint := ""
		if slices.ContainsFunc(in.Gateway.Servers, func(s frontend.Server) bool { return s.CertificateRefs }) {
			hint = "; the listener's certificateRefs are Kubernetes Secrets, which an ALB cannot use: import the certificate into ACM"
		}
		t.notes = append(t.notes, Note{true, ReasonCertificateNotFound, fmt.Sprintf(
			"no ISSUED ACM certificate covers host(s) %s; served over HTTP only (import or request one, or set %s=true or %s)%s",
			strings.Join(sel.Uncovered, ", "), annotations.RequestCertificate, annotations.CertificateARNs, hint)})
	}
	if len(sel.ARNs) > annotations.MaxCertificates {
		probs = append(probs, Problem{Reason: ReasonTooManyCertificates, Message: fmt.Sprintf(
			"hosts %s need %d certificates; an ALB listener takes at most %d (a default and %d SNI): use certificates with more names or set %s",
			strings.Join(hosts, ","), len(sel.ARNs), annotations.MaxCertificates, annotations.MaxCertificates-1, annotations.CertificateARNs)})
	}
	t.certificates = sel.ARNs
	return t, probs
}

// checkCertificateHome says why a certificate's region or account rules it out, "" when they
// do not.
func checkCertificateHome(arn string, in Input) string {
	// arn:<partition>:acm:<region>:<account>:certificate/<id>
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 {
		if region := parts[3]; in.AWS.Region != "" && region != in.AWS.Region {
			return fmt.Sprintf("is in region %s; an ALB in %s can only use ACM certificates of its own region", region, in.AWS.Region)
		}
		if account := parts[4]; in.AWS.AccountID != "" && account != in.AWS.AccountID {
			return fmt.Sprintf("belongs to account %s; an ALB in account %s can only use ACM certificates of its own account", account, in.AWS.AccountID)
		}
	}
	return ""
}

// checkCertificate says why a named certificate cannot go on the ALB, "" when it can.
func checkCertificate(arn string, in Input) string {
	if msg := checkCertificateHome(arn, in); msg != "" {
		return msg
	}
	c, ok := in.AWS.Named[arn]
	switch {
	case !ok:
		return "does not exist"
	case !c.Usable(in.Now):
		status := c.Status
		if c.Status == model.CertificateIssued {
			status = "expired"
		}
		return fmt.Sprintf("is %s, not ISSUED", status)
	}
	return ""
}

// requestedFor returns the certificate requested for host: an issued or pending one before a
// failed one.
func requestedFor(requested []model.Certificate, host string) (model.Certificate, bool) {
	var out model.Certificate
	found := false
	for _, c := range requested {
		if c.Domain != host {
			continue
		}
		if !found || (out.Status != model.CertificateIssued && out.Status != model.CertificatePending) {
			out, found = c, true
		}
	}
	return out, found
}
