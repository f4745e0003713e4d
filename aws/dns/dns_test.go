package dns

import (
	"testing"

	"sigs.k8s.io/external-dns/endpoint"
)

func TestZonesAreChosenByLongestSuffixOnLabelBoundaries(t *testing.T) {
	zones := []Zone{{ID: "pub", Name: "example.com"}, {ID: "sub", Name: "shop.example.com"}, {ID: "priv", Name: "example.com", Private: true}}
	for _, c := range []struct {
		name    string
		private bool
		want    string
	}{
		{"a.example.com", false, "pub"},
		{"a.shop.example.com", false, "sub"},
		{"*.shop.example.com", false, "sub"},
		{"example.com.", false, "pub"},
		{"notexample.com", false, ""},
		{"a.example.com", true, "priv"},
		{"a.shop.example.com", true, "priv"},
	} {
		z, ok := ZoneFor(zones, c.name, c.private)
		if got := map[bool]string{true: z.ID, false: ""}[ok]; got != c.want {
			t.Errorf("ZoneFor(%q, private=%v) = %q, want %q", c.name, c.private, got, c.want)
		}
	}
}

func TestAHolderIsNamedForTheUser(t *testing.T) {
	ep := func(owner, resource string) *endpoint.Endpoint {
		e := endpoint.NewEndpoint("a.example.com", "A", "x")
		if owner != "" {
			e.Labels[endpoint.OwnerLabelKey] = owner
		}
		if resource != "" {
			e.Labels[endpoint.ResourceLabelKey] = resource
		}
		return e
	}
	for _, c := range []struct {
		ep   *endpoint.Endpoint
		want string
	}{
		{ep("", ""), "a A record not managed through a TXT ownership record already exists"},
		{ep("us", ResourcePrefix+"istio/ns/gw"), "already claimed by gateway istio/ns/gw"},
		{ep("other", "ingress/web/site"), "owned by other (ingress/web/site)"},
	} {
		if got := holderOf(c.ep, "us"); got != c.want {
			t.Errorf("holderOf = %q, want %q", got, c.want)
		}
	}
}

func TestAliasOnlyOnAddressRecords(t *testing.T) {
	p := &route53Provider{aliasZoneID: "Z1"}
	a := endpoint.NewEndpoint("a.example.com", "A", "alb.example.net")
	a.ProviderSpecific = endpoint.ProviderSpecific{{Name: providerSpecificAlias, Value: "true"}}
	txt := endpoint.NewEndpoint("a-a.example.com", "TXT", `"heritage=external-dns"`)
	txt.ProviderSpecific = a.ProviderSpecific // what the TXT registry does
	if rs := p.recordSet(a); rs.AliasTarget == nil || *rs.AliasTarget.DNSName != "alb.example.net." || *rs.AliasTarget.HostedZoneId != "Z1" || rs.TTL != nil {
		t.Fatalf("A record set %+v is not an alias to the ALB", rs)
	}
	if rs := p.recordSet(txt); rs.AliasTarget != nil || len(rs.ResourceRecords) != 1 || *rs.TTL != 300 {
		t.Fatalf("TXT record set %+v must be a plain record", rs)
	}
}
