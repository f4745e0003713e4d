package integration_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

// externalDNSEnv names the external-dns binary the scenarios run; `make test` builds it
// (test/tools/externaldns/build.sh) at the version go.mod requires and sets this.
const externalDNSEnv = "ISTIO_ALB_EXTERNAL_DNS"

// externalDNSBinary is the external-dns binary, or the test is skipped (failed when the rig is
// required) when it has not been built.
func externalDNSBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(externalDNSEnv)
	if bin == "" {
		bin = filepath.Join(rig.Root(), "bin", "external-dns")
	}
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("external-dns not found at %s (`make test` builds it: test/tools/externaldns/build.sh)", bin)
		if os.Getenv(rig.RequireEnv) == "1" {
			t.Fatalf("%s=1: %s", rig.RequireEnv, msg)
		}
		t.Skip(msg)
	}
	return bin
}

// externalDNS is an external-dns set up as users run it beside the operator: the service source
// in one namespace, the AWS provider on the public zone, the TXT registry, policy sync.
type externalDNS struct {
	s          *scenario
	bin        string
	kubeconfig string
	namespace  string
	domain     string
}

func (s *scenario) externalDNS(bin string) *externalDNS {
	s.t.Helper()
	zone, err := route53.NewFromConfig(s.awsCfg).GetHostedZone(s.ctx, &route53.GetHostedZoneInput{Id: aws.String(s.env.HostedZoneID)})
	must(s.t, err)
	return &externalDNS{s: s, bin: bin, kubeconfig: kubeconfigAs(s.t, controlPlane.Env, ""),
		namespace: s.appNS, domain: strings.TrimSuffix(aws.ToString(zone.HostedZone.Name), ".")}
}

// once runs one pass of external-dns (--once) with the owner id and returns its log; a pass that
// fails or outlasts a minute fails the test.
func (e *externalDNS) once(ownerID string) string {
	t := e.s.t
	t.Helper()
	ctx, cancel := context.WithTimeout(e.s.ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, "--once",
		"--source=service", "--namespace="+e.namespace, "--kubeconfig="+e.kubeconfig,
		"--provider=aws", "--aws-zone-type=public", "--domain-filter="+e.domain,
		"--registry=txt", "--txt-owner-id="+ownerID, "--policy=sync",
		"--log-level=debug", "--metrics-address=127.0.0.1:0")
	cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL="+rig.Endpoint(), "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	cmd.WaitDelay = 5 * time.Second
	raw, err := cmd.CombinedOutput()
	out := withoutConfigDump(raw)
	if ctx.Err() != nil {
		t.Fatalf("external-dns --once did not finish within a minute; log:\n%s", out)
	}
	if err != nil {
		t.Fatalf("external-dns --once --txt-owner-id=%s: %v; log:\n%s", ownerID, err, out)
	}
	return out
}

// withoutConfigDump drops the line with external-dns's whole configuration from its log.
func withoutConfigDump(log []byte) string {
	var keep []string
	for _, line := range strings.Split(string(log), "\n") {
		if !strings.Contains(line, `msg="config: {`) {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// ourRecords waits for the Gateway's alias record and its ownership TXT and returns every record
// in the zone (but NS and SOA) by "name TYPE", rendered, and the owner id the TXT names.
func (s *scenario) ourRecords(host string) (map[string]string, string) {
	s.t.Helper()
	lb, _, _ := s.loadBalancer(s.gatewayKey("gw"))
	recs := s.waitRecords(s.env.HostedZoneID, func(r map[string]r53types.ResourceRecordSet) error {
		if err := aliasTo(r, host+" A", aws.ToString(lb.DNSName), aws.ToString(lb.CanonicalHostedZoneId)); err != nil {
			return err
		}
		if _, ok := r["a-"+host+" TXT"]; !ok {
			return fmt.Errorf("no ownership TXT a-%s yet; have %v", host, names(r))
		}
		return nil
	})
	m := ownerPattern.FindStringSubmatch(owner(recs, "a-"+host+" TXT"))
	if m == nil {
		s.t.Fatalf("the ownership TXT a-%s names no owner: %s", host, owner(recs, "a-"+host+" TXT"))
	}
	return renderAll(recs), m[1]
}

var ownerPattern = regexp.MustCompile(`external-dns/owner=([^,"]+)`)

func renderAll(recs map[string]r53types.ResourceRecordSet) map[string]string {
	out := map[string]string{}
	for _, k := range names(recs) {
		out[k] = recordString(recs[k])
	}
	return out
}

// skipped is what external-dns logs (at debug) for a record of ours it leaves alone because
// another owner holds it (endpoint.FilterEndpointsByOwnerID).
func skipped(host, found, required string) *regexp.Regexp {
	return regexp.MustCompile(`Skipping endpoint ` + regexp.QuoteMeta(host) + ` .*because owner id does not match \(found: \\?"` +
		regexp.QuoteMeta(found) + `\\?", required: \\?"` + regexp.QuoteMeta(required) + `\\?"\)`)
}

func TestExternalDNSInSyncModeWithTheClusterNameAsOwnerLeavesTheOperatorsRecordsAlone(t *testing.T) {
	bin := externalDNSBinary(t)
	s := newScenario(t, scenarioOptions{}) // the operator with its default DNS owner id
	s.article("/healthz/ready")
	edns := s.externalDNS(bin)
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	before, ours := s.ourRecords(articleHost)
	if ours == clusterName {
		t.Errorf("the operator's default DNS owner id is the cluster name %q, the usual external-dns --txt-owner-id", clusterName)
	}

	// external-dns as most clusters run it: its owner id is the cluster name. Its service source
	// wants nothing in the namespace, so with policy sync it deletes every record it owns.
	log := edns.once(clusterName)
	after := renderAll(s.records(s.env.HostedZoneID))
	if !maps.Equal(after, before) {
		t.Fatalf("external-dns --txt-owner-id=%s --policy=sync changed the zone:\n before %v\n after  %v\nlog:\n%s", clusterName, before, after, log)
	}
	if strings.Contains(log, "Desired change:") || !strings.Contains(log, "All records are already up to date") {
		t.Fatalf("external-dns --txt-owner-id=%s planned changes; log:\n%s", clusterName, log)
	}
	line := skipped(articleHost, ours, clusterName).FindString(log)
	if line == "" {
		t.Fatalf("external-dns --txt-owner-id=%s did not report %s as owned by %q; log:\n%s", clusterName, articleHost, ours, log)
	}
	t.Logf("external-dns --txt-owner-id=%s: %s", clusterName, line)

	// Any other owner id: our records are reported as another owner's and left alone.
	log = edns.once("someone-else")
	if after := renderAll(s.records(s.env.HostedZoneID)); !maps.Equal(after, before) {
		t.Fatalf("external-dns --txt-owner-id=someone-else changed the zone:\n before %v\n after  %v\nlog:\n%s", before, after, log)
	}
	line = skipped(articleHost, ours, "someone-else").FindString(log)
	if line == "" || strings.Contains(log, "Desired change:") {
		t.Fatalf("external-dns --txt-owner-id=someone-else did not report %s as owned by %q, or planned changes; log:\n%s", articleHost, ours, log)
	}
	t.Logf("external-dns --txt-owner-id=someone-else: %s", line)
}

// The teeth of the test above: with the owner id external-dns uses, its sync deletes our records.
func TestExternalDNSInSyncModeDeletesTheOperatorsRecordsWhenTheyShareItsOwnerID(t *testing.T) {
	bin := externalDNSBinary(t)
	s := newScenario(t, scenarioOptions{noManager: true})
	s.startManagerWith(controllers.Options{SyncPeriod: 10 * time.Minute, DNSOwnerID: clusterName})
	s.article("/healthz/ready")
	edns := s.externalDNS(bin)
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	before, ours := s.ourRecords(articleHost)
	if ours != clusterName {
		t.Fatalf("the ownership TXT names %q, want the owner id set, %q", ours, clusterName)
	}

	log := edns.once(clusterName)
	after := renderAll(s.records(s.env.HostedZoneID))
	var gone []error
	for _, k := range []string{articleHost + " A", "a-" + articleHost + " TXT"} {
		if _, ok := after[k]; ok {
			gone = append(gone, fmt.Errorf("%s is still there", k))
		}
	}
	if err := errors.Join(gone...); err != nil {
		t.Fatalf("external-dns --txt-owner-id=%s --policy=sync left records it owns: %v\n before %v\n after  %v\nlog:\n%s", clusterName, err, before, after, log)
	}
	if !strings.Contains(log, "Desired change: DELETE "+articleHost) {
		t.Fatalf("external-dns did not log the DELETE of %s; log:\n%s", articleHost, log)
	}
}
