package controllers

import (
	"strings"
	"testing"
)

func TestTheClusterPolicyFlagsAreCheckedAtStartAndTheDNSOwnerIsNotTheClusterName(t *testing.T) {
	o := Options{ClusterName: "blue", SyncPeriod: 1}
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	if o.DNSOwnerID != "istio-alb-operator-blue" || o.DNSPreviousOwnerID != "blue" {
		t.Fatalf("owner %q previous %q: the default owner id must differ from the cluster name an external-dns usually uses, and take over the records of the earlier default",
			o.DNSOwnerID, o.DNSPreviousOwnerID)
	}
	o = Options{ClusterName: "blue", SyncPeriod: 1, DNSOwnerID: "blue"}
	if err := o.Complete(); err != nil || o.DNSPreviousOwnerID != "" {
		t.Fatalf("an owner id set to the cluster name takes nothing over: %q, %v", o.DNSPreviousOwnerID, err)
	}

	o = Options{ClusterName: "blue", SyncPeriod: 1, NamespaceSelector: "istio-alb.io/allowed=true", InternetFacingNamespaceSelector: "exposure in (public)",
		DomainFilter: "example.com, example.org", DefaultInboundCIDRs: "10.0.0.0/8,fd00::/8", DefaultTags: "team=platform"}
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	pol := o.policy
	if !pol.AdmitsNamespace(map[string]string{"istio-alb.io/allowed": "true"}) || pol.AdmitsNamespace(map[string]string{"team": "x"}) {
		t.Fatal("namespace selector not applied")
	}
	if !pol.InDomains("www.example.org") || pol.InDomains("www.example.net") {
		t.Fatal("domain filter not applied")
	}
	if len(pol.Defaults.InboundCIDRs) != 2 || pol.Defaults.Tags["team"] != "platform" {
		t.Fatalf("defaults %+v", pol.Defaults)
	}

	for _, c := range []struct {
		o    Options
		want []string
	}{
		{Options{NamespaceSelector: "a=(b"}, []string{"--namespace-selector", "a=(b"}},
		{Options{InternetFacingNamespaceSelector: "!!"}, []string{"--internet-facing-namespace-selector"}},
		{Options{DefaultInboundCIDRs: "10.0.0.1/8"}, []string{"--default-inbound-cidrs", "10.0.0.1/8"}},
		{Options{DefaultTags: "aws:x=1"}, []string{"--default-tags", "aws:x"}},
	} {
		c.o.ClusterName, c.o.SyncPeriod = "blue", 1
		err := c.o.Complete()
		if err == nil {
			t.Fatalf("%+v: no error", c.o)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not name %q", err, w)
			}
		}
	}
}
