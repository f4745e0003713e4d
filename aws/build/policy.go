package build

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/external-dns/endpoint"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

// Reasons of the cluster policy's problems and notes.
const (
	ReasonNamespaceNotAllowed      = "NamespaceNotAllowed"
	ReasonSchemeNotAllowed         = "SchemeNotAllowed"
	ReasonNotAGatewayService       = "NotAGatewayService"
	ReasonHostOutsideDomainFilter  = "HostOutsideDomainFilter"
	namespaceSelectorFlag          = "--namespace-selector"
	internetFacingNamespaceSelFlag = "--internet-facing-namespace-selector"
	domainFilterFlag               = "--domain-filter"
)

// Policy is the cluster's policy, set by the operator's flags: which namespaces may use the
// operator and which may have internet-facing ALBs, where records may be written, and the
// defaults of what a Gateway does not annotate. The zero Policy allows everything.
type Policy struct {
	// Namespaces selects the namespaces whose Gateways may use the operator; nil selects all.
	Namespaces labels.Selector
	// InternetFacing selects the namespaces whose Gateways may have internet-facing ALBs; nil
	// selects all.
	InternetFacing labels.Selector
	// Domains are the domains records may be written in (external-dns's --domain-filter); a
	// filter with no domains matches every name.
	Domains *endpoint.DomainFilter
	// Defaults apply to what a Gateway does not annotate.
	Defaults annotations.Defaults
}

// AdmitsNamespace reports whether Gateways of a namespace with these labels may use the
// operator.
func (p Policy) AdmitsNamespace(nsLabels map[string]string) bool {
	return p.Namespaces == nil || p.Namespaces.Matches(labels.Set(nsLabels))
}

// SelectsNamespaces reports whether the policy depends on namespaces' labels.
func (p Policy) SelectsNamespaces() bool { return p.Namespaces != nil || p.InternetFacing != nil }

// InDomains reports whether records for name may be written.
func (p Policy) InDomains(name string) bool {
	return p.Domains == nil || p.Domains.Match(name)
}

// checkPolicy returns the problems of a Gateway the cluster policy does not allow.
func checkPolicy(pol Policy, fe *frontend.Frontend, cfg annotations.Config) []Problem {
	if !pol.AdmitsNamespace(fe.NamespaceLabels) {
		return []Problem{{Reason: ReasonNamespaceNotAllowed, Message: fmt.Sprintf(
			"namespace %s may not use the operator: the cluster policy (%s=%s) does not select its labels {%s}",
			fe.Namespace, namespaceSelectorFlag, pol.Namespaces, labels.Set(fe.NamespaceLabels))}}
	}
	if cfg.Scheme == annotations.SchemeInternetFacing && pol.InternetFacing != nil && !pol.InternetFacing.Matches(labels.Set(fe.NamespaceLabels)) {
		return []Problem{{Reason: ReasonSchemeNotAllowed, Message: fmt.Sprintf(
			"annotation %s=%q: namespace %s may have only internal ALBs: the cluster policy (%s=%s) does not select its labels {%s}; set %s=%s",
			annotations.Scheme, cfg.Scheme, fe.Namespace, internetFacingNamespaceSelFlag, pol.InternetFacing, labels.Set(fe.NamespaceLabels),
			annotations.Scheme, annotations.SchemeInternal)}}
	}
	return nil
}

// checkGatewayPods returns a problem when the gateway Service's pods are not all Istio gateway
// pods: the operator fronts and switches only gateway Services, never an application's.
func checkGatewayPods(fe *frontend.Frontend) []Problem {
	if len(fe.Workloads) == 0 {
		return []Problem{{Reason: ReasonNotAGatewayService, Message: fmt.Sprintf(
			"Service %s selects no Istio gateway pods: no Deployment or DaemonSet in namespace %s has pods it selects; the operator fronts only gateway Services",
			fe.Service, fe.Service.Namespace)}}
	}
	var others []string
	for _, w := range fe.Workloads {
		if !w.Gateway {
			others = append(others, w.Kind+" "+fe.Service.Namespace+"/"+w.Name)
		}
	}
	if len(others) == 0 {
		return nil
	}
	return []Problem{{Reason: ReasonNotAGatewayService, Message: fmt.Sprintf(
		"Service %s selects pods of %s, which are not Istio gateway pods (an istio-proxy container running as a router, or Istio's gateway labels); the operator fronts only gateway Services",
		fe.Service, strings.Join(others, ", "))}}
}

// outsideDomains removes from the stack's DNS names those the domain filter does not allow and
// returns a note naming them: the ALB is built, their records are not written.
func outsideDomains(pol Policy, names []string) (kept []string, note *Note) {
	var out []string
	for _, n := range names {
		if pol.InDomains(n) {
			kept = append(kept, n)
		} else {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return kept, nil
	}
	return kept, &Note{Warning: true, Reason: ReasonHostOutsideDomainFilter, Message: fmt.Sprintf(
		"hosts %s are outside the cluster's %s (%s): no record is written for them; the ALB serves them",
		strings.Join(out, ", "), domainFilterFlag, strings.Join(pol.Domains.Filters, ","))}
}
