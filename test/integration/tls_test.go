package integration_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/localstack/seed"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

const year = 365 * 24 * time.Hour

// acmValidationWait is how long the emulator keeps a requested certificate PENDING_VALIDATION
// (localstack/up.sh sets MOTO_ACM_VALIDATION_WAIT).
const acmValidationWait = 15 * time.Second

func (s *scenario) importCertificate(validFor time.Duration, names ...string) string {
	s.t.Helper()
	arn, err := seed.ImportCertificate(s.ctx, s.awsCfg, validFor, names...)
	must(s.t, err)
	return arn
}

// https returns the gateway's HTTPS listener with its default and SNI certificates, and the
// HTTP listener, once the HTTPS listener exists.
func (s *scenario) https(name string) (https, http elbv2types.Listener, def string, sni []string, tg elbv2types.TargetGroup) {
	s.t.Helper()
	must(s.t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		_, ls, _ := s.loadBalancer(s.gatewayKey(name))
		if len(ls) != 2 {
			return fmt.Errorf("%d listeners, want HTTP and HTTPS", len(ls))
		}
		return nil
	}))
	_, ls, tg := s.loadBalancer(s.gatewayKey(name))
	https, http = s.listener(ls, 443), s.listener(ls, 80)
	def, sni = s.listenerCertificates(https)
	return https, http, def, sni, tg
}

func (s *scenario) updateGateway(name string, change func(*istionet.Gateway)) {
	s.t.Helper()
	var gw istionet.Gateway
	must(s.t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: name}, &gw))
	change(&gw)
	must(s.t, s.k8s.Update(s.ctx, &gw))
}

func TestCertificatesAreDiscoveredFromTheGatewayHosts(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	start := time.Now()
	// A certificate requested by someone else and not validated yet.
	pending, err := acm.NewFromConfig(s.awsCfg).RequestCertificate(s.ctx, &acm.RequestCertificateInput{DomainName: aws.String("app.pending.test")})
	must(t, err)
	exact := s.importCertificate(year, "a.example.com")
	org := s.importCertificate(year, "*.example.org")
	// ACM refuses to import an expired certificate: import one that expires at once.
	expired := s.importCertificate(2*time.Second, "old.example.net")
	time.Sleep(2100 * time.Millisecond)
	hosts := []string{
		"a.example.com",        // exact beats the seeded *.example.com
		"c.example.com",        // only the wildcard covers it
		"b.example.org",        // *.example.org ...
		"c.example.org",        // ... covers both: the default
		"deep.sub.example.com", // two labels below the wildcard: not covered
		"app.pending.test",     // its certificate is PENDING_VALIDATION
		"old.example.net",      // its certificate is EXPIRED
	}
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, hosts, enabled)))
	s.waitDNS("gw")
	https, http, def, sni, tg := s.https("gw")
	if time.Since(start) >= acmValidationWait {
		t.Fatalf("the scenario took %s, longer than the emulator keeps %s pending: the pending case was not tested", time.Since(start), aws.ToString(pending.CertificateArn))
	}
	wantSNI := []string{exact, s.env.CertificateARN}
	slices.Sort(wantSNI)
	if def != org || !slices.Equal(sni, wantSNI) {
		t.Fatalf("certificates: default %s SNI %v; want default %s (*.example.org, two hosts) and SNI %v", def, sni, org, wantSNI)
	}
	if !forwards(https, tg.TargetGroupArn) {
		t.Fatalf("HTTPS listener does not forward to the target group: %+v", https.DefaultActions)
	}
	assertRedirect(t, http)
	for _, arn := range []string{aws.ToString(pending.CertificateArn), expired} {
		if def == arn || slices.Contains(sni, arn) {
			t.Fatalf("certificate %s (pending or expired) is on the listener", arn)
		}
	}
	s.eventsWith(s.appNS, "gw", build.ReasonCertificateNotFound, "deep.sub.example.com", "app.pending.test", "old.example.net")

	// Nothing changed: a reconcile makes no AWS call at all, ACM included.
	s.assertIdleReconcile("gw")
}

func TestExplicitCertificateARNsAreUsedAndABadOneLeavesTheListenerAlone(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	other := s.importCertificate(year, "shop.example.net")
	ann := map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/certificate-arns": other + "," + s.env.CertificateARN}
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, ann)))
	s.waitDNS("gw")
	_, _, def, sni, _ := s.https("gw")
	if def != other || !slices.Equal(sni, []string{s.env.CertificateARN}) {
		t.Fatalf("default %s SNI %v; want exactly the annotation's: default %s, SNI %s", def, sni, other, s.env.CertificateARN)
	}

	missing := strings.Replace(other, other[strings.LastIndex(other, "/")+1:], "00000000-0000-0000-0000-000000000000", 1)
	before := s.calls.Snapshot()
	s.updateGateway("gw", func(gw *istionet.Gateway) { gw.Annotations["istio-alb.io/certificate-arns"] = missing })
	msg := s.event(s.appNS, "gw", build.ReasonInvalidAnnotation)
	if !strings.Contains(msg, "istio-alb.io/certificate-arns") || !strings.Contains(msg, missing) {
		t.Fatalf("event %q does not name the annotation and the ARN", msg)
	}
	if w := mutating(s.calls.Since(before)); len(w) != 0 {
		t.Fatalf("a bad certificate ARN led to writes: %v", clients.Format(w))
	}
	if _, _, d, x, _ := s.https("gw"); d != def || !slices.Equal(x, sni) {
		t.Fatalf("the listener changed after a bad ARN: default %s SNI %v", d, x)
	}
}

func TestSSLRedirectOffForwardsHTTPAndAnUnknownPolicyIsReported(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	ann := map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/ssl-redirect": "false", "istio-alb.io/ssl-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, ann)))
	s.waitDNS("gw")
	_, http, _, _, tg := s.https("gw")
	if !forwards(http, tg.TargetGroupArn) {
		t.Fatalf("with ssl-redirect false the HTTP listener must forward, has %+v", http.DefaultActions)
	}

	s.updateGateway("gw", func(gw *istionet.Gateway) { gw.Annotations["istio-alb.io/ssl-policy"] = "ELBSecurityPolicy-Made-Up" })
	msg := s.event(s.appNS, "gw", build.ReasonInvalidAnnotation)
	if !strings.Contains(msg, "istio-alb.io/ssl-policy") || !strings.Contains(msg, "ELBSecurityPolicy-Made-Up") {
		t.Fatalf("event %q does not name the annotation and the policy", msg)
	}

	s.updateGateway("gw", func(gw *istionet.Gateway) {
		gw.Annotations["istio-alb.io/ssl-policy"] = "ELBSecurityPolicy-TLS-1-2-2017-01"
	})
	must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		if https, _, _, _, _ := s.https("gw"); aws.ToString(https.SslPolicy) != "ELBSecurityPolicy-TLS-1-2-2017-01" {
			return fmt.Errorf("policy %s", aws.ToString(https.SslPolicy))
		}
		return nil
	}))
}

func TestARenewedCertificateReplacesTheOldOneOnTheListener(t *testing.T) {
	s := newScenario(t, scenarioOptions{certTTL: time.Second})
	s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	if _, _, def, _, _ := s.https("gw"); def != s.env.CertificateARN {
		t.Fatalf("default %s, want the seeded %s", def, s.env.CertificateARN)
	}
	renewed := s.importCertificate(2*year, "*.example.com", "example.com")
	time.Sleep(1100 * time.Millisecond) // let the one-second catalog TTL pass
	s.updateGateway("gw", func(gw *istionet.Gateway) { gw.Labels = map[string]string{"rotate": "1"} })
	must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		if _, _, def, sni, _ := s.https("gw"); def != renewed || len(sni) != 0 {
			return fmt.Errorf("default %s SNI %v, want only the renewed %s", def, sni, renewed)
		}
		return nil
	}))
}

func TestACertificateIsRequestedOnceValidatedThroughRoute53AndAttachedWhenIssued(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	const host = "app.shop.example.com" // two labels below *.example.com: nothing covers it
	start := time.Now()
	ann := map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/request-certificate": "true"}
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{host}, ann)))
	s.waitDNS("gw")
	msg := s.event(s.appNS, "gw", controllers.ReasonCertificateRequested)
	if !strings.Contains(msg, host) {
		t.Fatalf("event %q does not name the host", msg)
	}
	// While it is pending the ALB serves HTTP only.
	_, listeners, tg := s.loadBalancer(s.gatewayKey("gw"))
	if time.Since(start) < acmValidationWait && (len(listeners) != 1 || !forwards(listeners[0], tg.TargetGroupArn)) {
		t.Fatalf("while the certificate is pending, want one HTTP listener forwarding, have %d listeners", len(listeners))
	}
	requested := s.requestedCertificates(s.gatewayKey("gw"))
	if len(requested) != 1 {
		t.Fatalf("%d certificates requested, want 1", len(requested))
	}
	// The validation CNAME is in the zone that owns the name, with TXT ownership of the gateway
	// like its alias records.
	var validation []string
	must(t, rig.Eventually(30*time.Second, 200*time.Millisecond, func() error {
		d, err := acm.NewFromConfig(s.awsCfg).DescribeCertificate(s.ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(requested[0])})
		if err != nil {
			return err
		}
		validation = nil
		for _, v := range d.Certificate.DomainValidationOptions {
			if v.ResourceRecord == nil {
				return fmt.Errorf("no validation record yet")
			}
			name := strings.TrimSuffix(aws.ToString(v.ResourceRecord.Name), ".")
			if !s.hasRecord(name, "CNAME", strings.TrimSuffix(aws.ToString(v.ResourceRecord.Value), ".")) && !s.hasRecord(name, "CNAME", aws.ToString(v.ResourceRecord.Value)) {
				return fmt.Errorf("validation CNAME %s not in the zone", name)
			}
			validation = append(validation, name)
		}
		return nil
	}))
	recs := s.records(s.env.HostedZoneID)
	for _, name := range validation {
		txt, ok := recs["cname-"+name+" TXT"]
		if !ok || len(txt.ResourceRecords) != 1 {
			t.Fatalf("validation CNAME %s has no TXT ownership record; records: %v", name, names(recs))
		}
		v := aws.ToString(txt.ResourceRecords[0].Value)
		for _, want := range []string{"external-dns/owner=istio-alb-operator-" + clusterName, "external-dns/resource=istio-alb/" + s.gatewayKey("gw") + "/acm"} {
			if !strings.Contains(v, want) {
				t.Fatalf("ownership of %s is %s, want %s", name, v, want)
			}
		}
	}

	// An operator restart requests nothing new.
	s.stopMgr()
	s.startManager(10 * time.Minute)
	must(t, rig.Eventually(2*acmValidationWait+waitAWS, 200*time.Millisecond, func() error {
		_, ls, _ := s.loadBalancer(s.gatewayKey("gw"))
		if len(ls) != 2 {
			return fmt.Errorf("%d listeners; events: %s", len(ls), s.eventSummary("gw"))
		}
		return nil
	}))
	if again := s.requestedCertificates(s.gatewayKey("gw")); !slices.Equal(again, requested) {
		t.Fatalf("certificates after a restart %v, want still only %v", again, requested)
	}
	_, http, def, sni, _ := s.https("gw")
	if def != requested[0] || len(sni) != 0 {
		t.Fatalf("default %s SNI %v, want the requested %s", def, sni, requested[0])
	}
	assertRedirect(t, http)

	// Deleting the Gateway deletes the certificate it requested, and its validation records.
	s.deleteGateway("gw")
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		if left := s.requestedCertificates(s.gatewayKey("gw")); len(left) != 0 {
			return fmt.Errorf("certificates left: %v", left)
		}
		return nil
	}))
	s.waitRecords(s.env.HostedZoneID, func(recs map[string]r53types.ResourceRecordSet) error {
		for _, name := range validation {
			for _, key := range []string{name + " CNAME", "cname-" + name + " TXT"} {
				if _, ok := recs[key]; ok {
					return fmt.Errorf("%s left after the teardown", key)
				}
			}
		}
		return nil
	})
}

func TestAnIstioSimpleTLSServerIsTerminatedByTheALBAndPassthroughIsReported(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	svc := s.article("/healthz/ready")
	gw := fixtures.Gateway(s.appNS, "gw", s.selector, nil, enabled)
	gw.Spec.Servers = []*networkingv1alpha3.Server{
		// "*" among the hosts: Envoy takes the ALB's connections, which carry no SNI (SNIRequired otherwise).
		{Port: &networkingv1alpha3.Port{Number: 443, Name: "https", Protocol: "HTTPS"}, Hosts: []string{"secure.example.com", "*"},
			Tls: &networkingv1alpha3.ServerTLSSettings{Mode: networkingv1alpha3.ServerTLSSettings_SIMPLE, CredentialName: "secure-cert"}},
		{Port: &networkingv1alpha3.Port{Number: 15443, Name: "tls", Protocol: "TLS"}, Hosts: []string{"*.mesh.example.com"},
			Tls: &networkingv1alpha3.ServerTLSSettings{Mode: networkingv1alpha3.ServerTLSSettings_AUTO_PASSTHROUGH}},
	}
	must(t, s.k8s.Create(s.ctx, gw))
	s.waitDNS("gw")
	https, http, def, _, tg := s.https("gw")
	if def != s.env.CertificateARN || !forwards(https, tg.TargetGroupArn) {
		t.Fatalf("HTTPS listener: default %s actions %+v", def, https.DefaultActions)
	}
	assertRedirect(t, http)
	if tg.Protocol != elbv2types.ProtocolEnumHttps || aws.ToInt32(tg.Port) != nodePort(svc, "https") {
		t.Fatalf("target group %s:%d, want HTTPS on the https nodePort %d", tg.Protocol, aws.ToInt32(tg.Port), nodePort(svc, "https"))
	}
	msg := s.event(s.appNS, "gw", build.ReasonUnsupportedTLS)
	if !strings.Contains(msg, "AUTO_PASSTHROUGH") || !strings.Contains(msg, "15443") {
		t.Fatalf("event %q does not name the server and its mode", msg)
	}
}

// requestedCertificates are the ACM certificates tagged for the gateway, sorted.
func (s *scenario) requestedCertificates(gatewayKey string) []string {
	s.t.Helper()
	out, err := tagging.NewFromConfig(s.awsCfg).GetResources(s.ctx, &tagging.GetResourcesInput{
		ResourceTypeFilters: []string{"acm:certificate"},
		TagFilters: []taggingtypes.TagFilter{
			{Key: aws.String(tags.Cluster), Values: []string{clusterName}},
			{Key: aws.String(tags.Gateway), Values: []string{gatewayKey}},
		}})
	must(s.t, err)
	var arns []string
	for _, r := range out.ResourceTagMappingList {
		arns = append(arns, aws.ToString(r.ResourceARN))
	}
	slices.Sort(arns)
	return arns
}

// hasRecord reports whether the seeded zone holds the record.
func (s *scenario) hasRecord(name, typ, value string) bool {
	s.t.Helper()
	out, err := route53.NewFromConfig(s.awsCfg).ListResourceRecordSets(s.ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(s.env.HostedZoneID)})
	must(s.t, err)
	for _, r := range out.ResourceRecordSets {
		if strings.TrimSuffix(aws.ToString(r.Name), ".") == strings.TrimSuffix(name, ".") && string(r.Type) == typ {
			for _, v := range r.ResourceRecords {
				if aws.ToString(v.Value) == value {
					return true
				}
			}
		}
	}
	return false
}
