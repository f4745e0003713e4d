package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/istio-alb-operator/istio-alb-operator/aws/acm"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/dns"
	"github.com/istio-alb-operator/istio-alb-operator/aws/elbv2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// Event reasons of the TLS step's side effects.
const (
	ReasonCertificateRequested = "CertificateRequested"
	ReasonCertificatePending   = "CertificatePending"
)

// TLS reads what the planner needs to decide a gateway's HTTPS listener (security policies,
// the ACM catalog, the named and the requested certificates) and makes the ACM side effects the
// plan asks for: certificate requests and their validation records.
type TLS struct {
	Catalog  *acm.Catalog
	Policies *elbv2.SSLPolicies
	ACM      acm.API
	Tagging  tags.TaggingAPI
	// DNS writes the validation records, with TXT ownership like the alias records.
	DNS *dns.Syncer
	// InDomains says whether records may be written for a name (the cluster's domain filter).
	InDomains func(name string) bool
	// DefaultSSLPolicy applies when the Gateway names none.
	DefaultSSLPolicy string

	mu sync.Mutex
	// validated are the certificates whose validation records were written.
	validated map[string]bool
}

// gather fills the TLS facts of in, reading only what the annotations make relevant; fresh
// describes named certificates again instead of trusting the cache.
func (t *TLS) gather(ctx context.Context, in *build.Input, cfg annotations.Config, fresh bool) error {
	in.AWS.DefaultSSLPolicy = t.DefaultSSLPolicy
	policy := cfg.SSLPolicy
	if policy == "" {
		policy = t.DefaultSSLPolicy
	}
	known, err := t.Policies.Exists(ctx, policy)
	if err != nil {
		return err
	}
	in.AWS.SSLPolicies = map[string]bool{policy: known}

	if len(cfg.CertificateARNs) > 0 {
		in.AWS.Named = map[string]model.Certificate{}
		for _, arn := range cfg.CertificateARNs {
			if !sameRegionAndAccount(arn, in.AWS.Region, in.AWS.AccountID) {
				continue // the planner reports it; describing it in our region would only fail
			}
			describe := t.Catalog.Describe
			if fresh {
				describe = t.Catalog.DescribeNow
			}
			c, err := describe(ctx, arn)
			switch {
			case acm.IsNotFound(err):
			case err != nil:
				return err
			default:
				in.AWS.Named[arn] = c
			}
		}
		return nil
	}
	if in.AWS.Issued, err = t.Catalog.Issued(ctx); err != nil {
		return err
	}
	if !cfg.RequestCertificate {
		return nil
	}
	// The gateway's own requests are read only while a host is uncovered: once issued they are
	// in the catalog.
	if sel := build.Select(build.Hosts(in.Gateway, cfg), in.AWS.Issued, in.Now); len(sel.Uncovered) == 0 {
		return nil
	}
	reqs := &acm.Requests{API: t.ACM, Tagging: t.Tagging, Catalog: t.Catalog, Owner: in.Owner}
	in.AWS.Requested, err = reqs.Mine(ctx)
	return err
}

func sameRegionAndAccount(arn, region, account string) bool {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 {
		return true
	}
	return (region == "" || parts[3] == region) && (account == "" || parts[4] == account)
}

// act requests the certificates the plan asks for and writes the validation records of the
// pending ones (once per certificate; they stay after issuance, ACM renews through them).
func (t *TLS) act(ctx context.Context, owner tags.Owner, plan *build.GatewayPlan) ([]build.Note, error) {
	var notes []build.Note
	reqs := &acm.Requests{API: t.ACM, Tagging: t.Tagging, Catalog: t.Catalog, Owner: owner}
	for _, h := range plan.Request {
		c, err := reqs.Request(ctx, h)
		if err != nil {
			return notes, err
		}
		notes = append(notes, build.Note{Reason: ReasonCertificateRequested, Message: fmt.Sprintf("requested ACM certificate %s for %s (DNS validation)", c.ARN, h)})
		// ACM computes the validation records a few seconds after the request; the pending
		// retry writes them.
	}
	for _, c := range plan.Pending {
		note, err := t.writeValidation(ctx, owner, c)
		if err != nil {
			return notes, err
		}
		if note != nil {
			notes = append(notes, *note)
		}
	}
	return notes, nil
}

// writeValidation puts a pending certificate's validation CNAMEs into the public zones that own
// them, once per certificate, with TXT ownership of the gateway (RemoveRecords deletes them at
// teardown). Names outside the cluster's domain filter are left to the user.
func (t *TLS) writeValidation(ctx context.Context, owner tags.Owner, c model.Certificate) (*build.Note, error) {
	t.mu.Lock()
	done := t.validated[c.ARN]
	t.mu.Unlock()
	if done || len(c.Validation) == 0 {
		return nil, nil
	}
	var records []model.Record
	var outside []string
	for _, r := range c.Validation {
		if t.InDomains == nil || t.InDomains(r.Name) {
			records = append(records, r)
		} else {
			outside = append(outside, r.Name)
		}
	}
	unowned, held, err := t.DNS.EnsureRecords(ctx, dns.ValidationResource(owner.GatewayKey), records)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.validated == nil {
		t.validated = map[string]bool{}
	}
	t.validated[c.ARN] = true
	t.mu.Unlock()
	var problems []string
	if len(outside) > 0 {
		problems = append(problems, strings.Join(outside, ",")+" outside the cluster's --domain-filter")
	}
	if len(unowned) > 0 {
		problems = append(problems, "no public hosted zone owns "+strings.Join(unowned, ","))
	}
	for _, h := range held {
		problems = append(problems, h.Name+" is "+h.Reason)
	}
	if len(problems) > 0 {
		return &build.Note{Warning: true, Reason: ReasonCertificatePending, Message: fmt.Sprintf(
			"validation records of certificate %s not written: %s; add them yourself", c.ARN, strings.Join(problems, "; "))}, nil
	}
	return &build.Note{Reason: ReasonCertificatePending, Message: fmt.Sprintf(
		"validation records of certificate %s written to Route53; waiting for ACM to issue it", c.ARN)}, nil
}

// release deletes the certificates requested for the gateway (found by the deployer's tagging
// call), except those still used by a load balancer other than the gateway's own deleted ones
// (another gateway may have found and attached one): they are kept and reported.
func (t *TLS) release(ctx context.Context, owner tags.Owner, certificates, deletedLBs []string) (notes []build.Note, kept int, err error) {
	reqs := &acm.Requests{API: t.ACM, Tagging: t.Tagging, Catalog: t.Catalog, Owner: owner}
	mine, err := reqs.Describe(ctx, certificates)
	if err != nil {
		return nil, 0, err
	}
	for _, c := range mine {
		users := slices.DeleteFunc(slices.Clone(c.InUseBy), func(arn string) bool {
			return slices.ContainsFunc(deletedLBs, func(lb string) bool { return sameLoadBalancer(arn, lb) })
		})
		if len(users) > 0 {
			notes = append(notes, build.Note{Reason: ReasonCleanupWaiting, Message: fmt.Sprintf(
				"certificate %s kept: in use by %s", c.ARN, strings.Join(users, ","))})
			kept++
			continue
		}
		if err := reqs.Delete(ctx, c.ARN); err != nil {
			return notes, kept, err
		}
	}
	return notes, kept, nil
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
