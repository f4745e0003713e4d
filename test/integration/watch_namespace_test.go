package integration_test

import (
	"os"
	"strings"
	"testing"
	"time"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

func TestWithWatchNamespaceTheOperatorProgramsAGatewayThereWithTheChartsNamespacedRBACOnly(t *testing.T) {
	s := newScenarioOn(t, restConfig)
	watched := s.appNS

	// The chart's RBAC for watchNamespace, as its own release with its own ServiceAccount.
	manifest, err := rig.RenderChart("scoped", rig.OperatorNamespace, "--set", "clusterName="+clusterName, "--set", "watchNamespace="+watched)
	if err != nil {
		if os.Getenv(rig.RequireEnv) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	must(t, rig.Apply(s.ctx, restConfig, manifest, func(u *unstructured.Unstructured) bool {
		switch u.GetKind() {
		case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
			return true
		}
		return false
	}))
	const sa = "scoped-istio-alb-operator"
	scoped, err := client.New(rig.AsServiceAccount(restConfig, rig.OperatorNamespace, sa), client.Options{Scheme: controllers.Scheme()})
	must(t, err)
	if err := scoped.List(s.ctx, &corev1.ServiceList{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the namespace-scoped operator may list Services cluster-wide (err %v); want Forbidden", err)
	}
	if err := scoped.List(s.ctx, &istionet.GatewayList{}, client.InNamespace(s.istioNS)); !apierrors.IsForbidden(err) {
		t.Fatalf("the namespace-scoped operator may list Gateways in %s (err %v); want Forbidden", s.istioNS, err)
	}

	// A gateway with its Service and Deployment in the watched namespace, and an enabled gateway
	// of another namespace that the operator must leave alone.
	svc := fixtures.IngressGatewayService(watched, s.selector)
	must(t, s.k8s.Create(s.ctx, svc))
	must(t, s.k8s.Create(s.ctx, fixtures.IngressGatewayDeployment(watched, s.selector, "/healthz/ready")))
	otherSelector := map[string]string{"istio": "other-" + s.istioNS}
	must(t, s.k8s.Create(s.ctx, fixtures.IngressGatewayService(s.istioNS, otherSelector)))
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.istioNS, "other", otherSelector, []string{"other.example.com"}, enabled)))
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(watched, "gw", s.selector, []string{"scoped.example.com"}, enabled)))

	kubeconfig := kubeconfigAs(t, controlPlane.Env, "system:serviceaccount:"+rig.OperatorNamespace+":"+sa,
		"system:serviceaccounts", "system:serviceaccounts:"+rig.OperatorNamespace, "system:authenticated")
	p := s.startOperator(kubeconfig, rig.Endpoint(), "--watch-namespace", watched)
	t.Cleanup(func() {
		if t.Failed() {
			p.stop()
			t.Logf("operator logs:\n%s", p.logs.String())
		}
	})

	s.waitDNS("gw")
	s.waitServiceType(svc, corev1.ServiceTypeNodePort)
	s.loadBalancer(s.gatewayKey("gw"))

	var other istionet.Gateway
	must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.istioNS, Name: "other"}, &other))
	if len(other.Finalizers) != 0 || other.Annotations["istio-alb.io/load-balancer-dns"] != "" {
		t.Fatalf("the gateway outside the watched namespace was touched: finalizers %v, annotations %v", other.Finalizers, other.Annotations)
	}
	if by := s.owned("istio/" + s.istioNS + "/other"); len(by) != 0 {
		t.Fatalf("AWS resources for the gateway outside the watched namespace: %v", by)
	}

	// The teardown works with the same rights.
	s.deleteGateway("gw")
	s.waitGone("gw", 60*time.Second)
	s.waitServiceType(svc, corev1.ServiceTypeLoadBalancer)
	if by := s.owned(s.gatewayKey("gw")); len(by) != 0 {
		t.Fatalf("AWS resources left after the teardown: %v", by)
	}
	// Nothing was read or written outside the Role's namespace (a cluster-wide list or watch of
	// a namespaced kind would be refused and logged).
	p.stop()
	if logs := p.logs.String(); strings.Contains(strings.ToLower(logs), "forbidden") {
		t.Fatalf("the operator was refused something:\n%s", logs)
	}
}
