package integration_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/cmd/istio-alb-operator/status"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
)

var errorf = fmt.Errorf

// runStatus runs `istio-alb-operator status --kubeconfig <kubeconfig> args...` with neither AWS
// credentials nor an AWS endpoint in its environment, and returns what it printed.
func runStatus(t *testing.T, bin, kubeconfig string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"status", "--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("istio-alb-operator status %v: %v\n%s%s", args, err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// tableRows parses the default table (one word per cell) into rows keyed by column.
func tableRows(t *testing.T, out string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header := strings.Fields(lines[0])
	if !slices.Equal(header, []string{"KIND", "NAMESPACE", "NAME", "PHASE", "LOAD-BALANCER", "CERTIFICATES", "ROUTE53"}) {
		t.Fatalf("status header %v", header)
	}
	var rows []map[string]string
	for _, l := range lines[1:] {
		cells := strings.Fields(l)
		if len(cells) != len(header) {
			t.Fatalf("status row %q has %d cells, want %d", l, len(cells), len(header))
		}
		row := map[string]string{}
		for i, h := range header {
			row[h] = cells[i]
		}
		rows = append(rows, row)
	}
	return rows
}

// statusViewer can read Gateways of both kinds and Events, nothing else: the status subcommand
// needs no more.
func (s *scenario) statusViewer(name string) {
	s.t.Helper()
	read := []string{"get", "list"}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"networking.istio.io", "gateway.networking.k8s.io"}, Resources: []string{"gateways"}, Verbs: read},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: read},
	}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: name}}}
	must(s.t, s.k8s.Create(s.ctx, role))
	must(s.t, s.k8s.Create(s.ctx, binding))
	s.t.Cleanup(func() {
		_ = s.k8s.Delete(s.ctx, binding)
		_ = s.k8s.Delete(s.ctx, role)
	})
}

func TestTheStatusSubcommandPrintsOneRowPerManagedGatewayWithItsPhaseALBAndRoute53Names(t *testing.T) {
	s := newScenario(t, scenarioOptions{istiod: true})
	s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "bad", s.selector, []string{"bad.example.com"},
		map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/scheme": "public"})))
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "unmanaged", s.selector, []string{"plain.example.com"}, nil)))
	must(t, s.k8s.Create(s.ctx, fixtures.GatewayAPIGateway(s.istioNS, "web", enabled,
		fixtures.HTTPListener("http", 80, "web.example.com", gwapiv1.NamespacesFromSame))))
	dns := s.waitDNS("gw")
	web := s.waitAPIGateway(s.istioNS, "web")
	s.event(s.appNS, "bad", build.ReasonInvalidAnnotation)
	s.eventsWith(s.appNS, "gw", "DNSRecordsSynced", articleHost)

	bin := buildOperator(t)
	viewer := fmt.Sprintf("status-viewer-%s", s.appNS)
	s.statusViewer(viewer)
	kubeconfig := kubeconfigAs(t, controlPlane.Env, viewer)

	t.Run("the table of one namespace", func(t *testing.T) {
		out, _ := runStatus(t, bin, kubeconfig, "-n", s.appNS)
		t.Logf("istio-alb-operator status -n %s\n%s", s.appNS, out)
		rows := tableRows(t, out)
		want := []map[string]string{
			{"KIND": "istio", "NAMESPACE": s.appNS, "NAME": "bad", "PHASE": "error:InvalidAnnotation", "LOAD-BALANCER": "<pending>", "CERTIFICATES": "<unknown>", "ROUTE53": "<none>"},
			{"KIND": "istio", "NAMESPACE": s.appNS, "NAME": "gw", "PHASE": "ready", "LOAD-BALANCER": dns, "CERTIFICATES": "<discovered>", "ROUTE53": articleHost},
		}
		if len(rows) != len(want) {
			t.Fatalf("rows:\n%s", out)
		}
		for i := range want {
			for k, v := range want[i] {
				if rows[i][k] != v {
					t.Errorf("row %d %s = %q, want %q\n%s", i, k, rows[i][k], v, out)
				}
			}
		}
	})

	t.Run("all namespaces as JSON, both kinds", func(t *testing.T) {
		out, _ := runStatus(t, bin, kubeconfig, "-o", "json")
		var doc struct{ Gateways []status.Row }
		must(t, json.Unmarshal([]byte(out), &doc))
		byName := map[string]status.Row{}
		for _, r := range doc.Gateways {
			if r.Namespace == s.appNS || r.Namespace == s.istioNS {
				byName[r.Kind+"/"+r.Name] = r
			}
		}
		if len(byName) != 3 {
			t.Fatalf("want gw, bad and web (not the unmanaged Gateway), got %v", byName)
		}
		if r := byName["istio/gw"]; r.Phase != status.PhaseReady || r.LoadBalancerDNS != dns ||
			!slices.Equal(r.Route53Names, []string{articleHost}) || !slices.Contains(r.Listeners, "HTTPS:443") || !r.CertificatesDiscovered {
			t.Errorf("istio/gw: %+v", r)
		}
		if r := byName["istio/bad"]; r.Phase != status.PhaseError || r.Reason != build.ReasonInvalidAnnotation || !strings.Contains(r.Message, "public") {
			t.Errorf("istio/bad: %+v", r)
		}
		if r := byName["gateway-api/web"]; r.Phase != status.PhaseReady || r.LoadBalancerDNS != web.Annotations["istio-alb.io/load-balancer-dns"] ||
			!slices.Equal(r.Route53Names, []string{"web.example.com"}) {
			t.Errorf("gateway-api/web: %+v", r)
		}
	})

	t.Run("wide adds the listeners and the last Event", func(t *testing.T) {
		out, _ := runStatus(t, bin, kubeconfig, "-n", s.appNS, "-o", "wide")
		t.Logf("istio-alb-operator status -n %s -o wide\n%s", s.appNS, out)
		for _, want := range []string{"LISTENERS", "LAST-EVENT", "HTTP:80,HTTPS:443", "InvalidAnnotation (", `"public"`} {
			if !strings.Contains(out, want) {
				t.Errorf("wide output lacks %q:\n%s", want, out)
			}
		}
	})
}
