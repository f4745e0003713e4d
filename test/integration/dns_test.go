package integration_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

// records returns the zone's record sets by "name TYPE" (name without the trailing dot).
func (s *scenario) records(zoneID string) map[string]r53types.ResourceRecordSet {
	s.t.Helper()
	out := map[string]r53types.ResourceRecordSet{}
	p := route53.NewListResourceRecordSetsPaginator(route53.NewFromConfig(s.awsCfg), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)})
	for p.HasMorePages() {
		page, err := p.NextPage(s.ctx)
		must(s.t, err)
		for _, r := range page.ResourceRecordSets {
			name := strings.ReplaceAll(strings.TrimSuffix(aws.ToString(r.Name), "."), `\052`, "*")
			out[name+" "+string(r.Type)] = r
		}
	}
	return out
}

// waitRecords waits until check accepts the zone's records.
func (s *scenario) waitRecords(zoneID string, check func(map[string]r53types.ResourceRecordSet) error) map[string]r53types.ResourceRecordSet {
	s.t.Helper()
	var recs map[string]r53types.ResourceRecordSet
	must(s.t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		recs = s.records(zoneID)
		return check(recs)
	}))
	return recs
}

func names(recs map[string]r53types.ResourceRecordSet) []string {
	var out []string
	for k := range recs {
		if !strings.HasSuffix(k, " NS") && !strings.HasSuffix(k, " SOA") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// aliasTo checks an alias record to the ALB.
func aliasTo(recs map[string]r53types.ResourceRecordSet, key, dnsName, zoneID string) error {
	r, ok := recs[key]
	if !ok {
		return fmt.Errorf("no %s record; have %v", key, names(recs))
	}
	if r.AliasTarget == nil || strings.TrimSuffix(aws.ToString(r.AliasTarget.DNSName), ".") != dnsName || aws.ToString(r.AliasTarget.HostedZoneId) != zoneID {
		return fmt.Errorf("%s is not an alias to %s in zone %s: %+v", key, dnsName, zoneID, r.AliasTarget)
	}
	return nil
}

func owner(recs map[string]r53types.ResourceRecordSet, key string) string {
	return recordString(recs[key])
}

// recordString renders a record set's content: TTL, values, alias target.
func recordString(r r53types.ResourceRecordSet) string {
	var parts []string
	if r.TTL != nil {
		parts = append(parts, fmt.Sprintf("ttl=%d", aws.ToInt64(r.TTL)))
	}
	for _, v := range r.ResourceRecords {
		parts = append(parts, aws.ToString(v.Value))
	}
	if a := r.AliasTarget; a != nil {
		parts = append(parts, "alias="+aws.ToString(a.DNSName)+"@"+aws.ToString(a.HostedZoneId))
	}
	return strings.Join(parts, " ")
}

func TestTheArticlesHostGetsAnAliasRecordWithExternalDNSOwnership(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	before := s.calls.Snapshot()
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	lb, _, _ := s.loadBalancer(s.gatewayKey("gw"))
	recs := s.waitRecords(s.env.HostedZoneID, func(r map[string]r53types.ResourceRecordSet) error {
		return aliasTo(r, articleHost+" A", aws.ToString(lb.DNSName), aws.ToString(lb.CanonicalHostedZoneId))
	})
	wantTXT := `ttl=300 "heritage=external-dns,external-dns/owner=istio-alb-operator-itest,external-dns/resource=istio-alb/istio/` + s.appNS + `/gw"`
	if got := owner(recs, "a-"+articleHost+" TXT"); got != wantTXT {
		t.Fatalf("ownership TXT a-%s = %s, want %s; records %v", articleHost, got, wantTXT, names(recs))
	}
	if got := names(recs); !slices.Equal(got, []string{"a-" + articleHost + " TXT", articleHost + " A"}) {
		t.Fatalf("records in the zone %v, want only the alias and its TXT", got)
	}
	t.Logf("Route53 calls of the create: %s", strings.Join(route53Calls(s.calls.Since(before)), " "))

	// Idle: no Route53 call at all (no AWS call of any kind).
	s.assertIdleReconcile("gw")

	// Deleted: no record and no TXT of it left.
	del := s.calls.Snapshot()
	s.deleteGateway("gw")
	s.waitRecords(s.env.HostedZoneID, func(r map[string]r53types.ResourceRecordSet) error {
		if got := names(r); len(got) != 0 {
			return fmt.Errorf("records left: %v", got)
		}
		return nil
	})
	t.Logf("Route53 calls of the delete: %s", strings.Join(route53Calls(s.calls.Since(del)), " "))
}

func route53Calls(calls map[clients.Call]int) []string {
	var out []string
	for _, line := range clients.Format(calls) {
		if strings.HasPrefix(line, "Route 53.") {
			out = append(out, line)
		}
	}
	return out
}

func TestAWildcardServerGetsARecordPerBoundVirtualService(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	vs1 := fixtures.VirtualService(s.appNS, "gw", "app1.example.com")
	vs1.Name = "app1"
	must(t, s.k8s.Create(s.ctx, vs1))
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{"*.example.com"}, enabled)))
	s.waitDNS("gw")
	lb, _, _ := s.loadBalancer(s.gatewayKey("gw"))
	alb, zone := aws.ToString(lb.DNSName), aws.ToString(lb.CanonicalHostedZoneId)
	s.waitRecords(s.env.HostedZoneID, func(r map[string]r53types.ResourceRecordSet) error {
		if err := aliasTo(r, "*.example.com A", alb, zone); err != nil {
			return err
		}
		return aliasTo(r, "app1.example.com A", alb, zone)
	})

	vs2 := fixtures.VirtualService(s.appNS, "gw", "app2.example.com")
	vs2.Name = "app2"
	must(t, s.k8s.Create(s.ctx, vs2))
	s.waitRecords(s.env.HostedZoneID, func(r map[string]r53types.ResourceRecordSet) error {
		return aliasTo(r, "app2.example.com A", alb, zone)
	})
	must(t, s.k8s.Delete(s.ctx, vs1))
	s.waitRecords(s.env.HostedZoneID, func(r map[string]r53types.ResourceRecordSet) error {
		for _, k := range []string{"app1.example.com A", "a-app1.example.com TXT"} {
			if _, ok := r[k]; ok {
				return fmt.Errorf("%s still there", k)
			}
		}
		return aliasTo(r, "app2.example.com A", alb, zone)
	})
}

func TestRecordsOfOtherOwnersAreLeftAloneAndReported(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	r53 := route53.NewFromConfig(s.awsCfg)
	theirs := `"heritage=external-dns,external-dns/owner=other-cluster,external-dns/resource=ingress/web/site"`
	_, err := r53.ChangeResourceRecordSets(s.ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(s.env.HostedZoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{
			{Action: r53types.ChangeActionCreate, ResourceRecordSet: &r53types.ResourceRecordSet{Name: aws.String("taken.example.com."), Type: r53types.RRTypeCname,
				TTL: aws.Int64(60), ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("elsewhere.example.net")}}}},
			{Action: r53types.ChangeActionCreate, ResourceRecordSet: &r53types.ResourceRecordSet{Name: aws.String("cname-taken.example.com."), Type: r53types.RRTypeTxt,
				TTL: aws.Int64(300), ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(theirs)}}}},
			{Action: r53types.ChangeActionCreate, ResourceRecordSet: &r53types.ResourceRecordSet{Name: aws.String("manual.example.com."), Type: r53types.RRTypeA,
				TTL: aws.Int64(60), ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("192.0.2.10")}}}},
		}}})
	must(t, err)
	before := s.records(s.env.HostedZoneID)

	// Two Gateways on one Service claim mine.example.com: the first keeps it.
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "first", s.selector, []string{"mine.example.com"}, enabled)))
	s.waitDNS("first")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "second", s.selector, []string{"taken.example.com", "manual.example.com", "mine.example.com", "second.example.com"}, enabled)))
	s.waitDNS("second")
	first, _, _ := s.loadBalancer(s.gatewayKey("first"))
	second, _, _ := s.loadBalancer(s.gatewayKey("second"))
	recs := s.waitRecords(s.env.HostedZoneID, func(r map[string]r53types.ResourceRecordSet) error {
		if err := aliasTo(r, "mine.example.com A", aws.ToString(first.DNSName), aws.ToString(first.CanonicalHostedZoneId)); err != nil {
			return err
		}
		return aliasTo(r, "second.example.com A", aws.ToString(second.DNSName), aws.ToString(second.CanonicalHostedZoneId))
	})
	for _, k := range []string{"taken.example.com CNAME", "cname-taken.example.com TXT", "manual.example.com A"} {
		if recordString(recs[k]) != recordString(before[k]) || recordString(before[k]) == "" {
			t.Fatalf("%s was changed: %s, was %s", k, recordString(recs[k]), recordString(before[k]))
		}
	}
	if _, ok := recs["a-manual.example.com TXT"]; ok {
		t.Fatal("an ownership TXT was written for a name we do not own")
	}
	s.eventsWith(s.appNS, "second", controllers.ReasonDNSConflict,
		"taken.example.com left alone: owned by other-cluster", "manual.example.com left alone", "mine.example.com left alone: already claimed by gateway istio/"+s.appNS+"/first")

	// The loser going away does not take the winner's record with it.
	s.deleteGateway("second")
	s.waitRecords(s.env.HostedZoneID, func(r map[string]r53types.ResourceRecordSet) error {
		if _, ok := r["second.example.com A"]; ok {
			return fmt.Errorf("second.example.com still there")
		}
		return aliasTo(r, "mine.example.com A", aws.ToString(first.DNSName), aws.ToString(first.CanonicalHostedZoneId))
	})
}

func TestAnInternalDualstackALBGetsAAndAAAAInThePrivateZoneOnly(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	ann := map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/scheme": "internal", "istio-alb.io/ip-address-type": "dualstack"}
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{"internal.example.com"}, ann)))
	s.waitDNS("gw")
	lb, _, _ := s.loadBalancer(s.gatewayKey("gw"))
	s.waitRecords(s.env.PrivateHostedZoneID, func(r map[string]r53types.ResourceRecordSet) error {
		for _, typ := range []string{"A", "AAAA"} {
			if err := aliasTo(r, "internal.example.com "+typ, aws.ToString(lb.DNSName), aws.ToString(lb.CanonicalHostedZoneId)); err != nil {
				return err
			}
		}
		return nil
	})
	if public := names(s.records(s.env.HostedZoneID)); len(public) != 0 {
		t.Fatalf("records in the public zone for an internal ALB: %v", public)
	}
	s.deleteGateway("gw")
	s.waitRecords(s.env.PrivateHostedZoneID, func(r map[string]r53types.ResourceRecordSet) error {
		if got := names(r); len(got) != 0 {
			return fmt.Errorf("records left in the private zone: %v", got)
		}
		return nil
	})
}

func TestDNSFalseMakesNoRoute53Call(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	before := s.calls.Snapshot()
	ann := map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/dns": "false"}
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, ann)))
	s.waitDNS("gw")
	s.deleteGateway("gw")
	s.event(s.appNS, "gw", controllers.ReasonCleanedUp)
	if calls := route53Calls(s.calls.Since(before)); len(calls) != 0 {
		t.Fatalf("dns: \"false\" but Route53 was called: %v", calls)
	}
}

// Releases before the distinct default owner id wrote records as the cluster name: an upgrade
// takes them back (TXT rewritten, alias untouched), with no conflict and no gap.
func TestRecordsOfTheEarlierDefaultOwnerIdAreTakenOverOnUpgrade(t *testing.T) {
	s := newScenario(t, scenarioOptions{noManager: true})
	s.startManagerWith(controllers.Options{SyncPeriod: 10 * time.Minute, DNSOwnerID: clusterName})
	s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	txtKey := "a-" + articleHost + " TXT"
	old := `ttl=300 "heritage=external-dns,external-dns/owner=itest,external-dns/resource=istio-alb/istio/` + s.appNS + `/gw"`
	recs := s.waitRecords(s.env.HostedZoneID, func(r map[string]r53types.ResourceRecordSet) error {
		if got := owner(r, txtKey); got != old {
			return fmt.Errorf("TXT %s", got)
		}
		return nil
	})
	alias := recs[articleHost+" A"]

	// The upgrade: the same operator with the default flags.
	s.stopMgr()
	s.startManager(10 * time.Minute)
	want := `ttl=300 "heritage=external-dns,external-dns/owner=istio-alb-operator-itest,external-dns/resource=istio-alb/istio/` + s.appNS + `/gw"`
	recs = s.waitRecords(s.env.HostedZoneID, func(r map[string]r53types.ResourceRecordSet) error {
		if got := owner(r, txtKey); got != want {
			return fmt.Errorf("TXT %s; events: %s", got, s.eventSummary("gw"))
		}
		return nil
	})
	if got := recs[articleHost+" A"]; aws.ToString(got.AliasTarget.DNSName) != aws.ToString(alias.AliasTarget.DNSName) {
		t.Fatalf("alias moved: %s, was %s", aws.ToString(got.AliasTarget.DNSName), aws.ToString(alias.AliasTarget.DNSName))
	}
	if got := names(recs); !slices.Equal(got, []string{txtKey, articleHost + " A"}) {
		t.Fatalf("records %v, want only the alias and its TXT", got)
	}
	if evs := s.eventsWith(s.appNS, "gw", "DNSConflict"); len(evs) != 0 {
		t.Fatalf("the earlier owner's records were reported as a conflict: %v", evs)
	}
}
