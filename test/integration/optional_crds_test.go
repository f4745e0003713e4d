package integration_test

import (
	"context"
	"strings"
	"testing"
	"time"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/istiod"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

// Most EKS clusters serving Istio Gateways have Istio's CRDs and not the Gateway API's. The
// operator binary must start there, serve Istio Gateways, say that its Gateway API controller is
// off, and start it once the Gateway API CRDs are installed.
func TestOnAClusterWithoutTheGatewayAPICRDsTheBinaryServesIstioGatewaysAndStartsTheGatewayAPIControllerOnceTheyAreInstalled(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	cp, err := rig.StartControlPlaneWith(rig.ControlPlaneOptions{WithoutGatewayAPI: true})
	must(t, err)
	t.Cleanup(func() { _ = cp.Stop() })
	_, err = rig.InstallOperator(context.Background(), cp.Config)
	must(t, err)
	s := newScenarioOn(t, cp.Config)
	if err := s.k8s.List(s.ctx, &gwapiv1.GatewayList{}); !meta.IsNoMatchError(err) {
		t.Fatalf("listing Gateway API Gateways on the Istio-only control plane: %v, want no match", err)
	}
	bin := buildOperator(t)
	op := startOperator(t, bin, operatorKubeconfig(t, cp.Env), "--api-discovery-interval", "1s")

	t.Run("the Gateway API controller is off, and says so in the log, the metric and /readyz", func(t *testing.T) {
		line := op.waitLog("controller off", controllers.GatewayAPIControllerName)
		t.Logf("operator log: %s", line)
		for _, kind := range []string{"gateway.networking.k8s.io/v1 Gateway", "gateway.networking.k8s.io/v1 GatewayClass", "gateway.networking.k8s.io/v1 HTTPRoute"} {
			if !strings.Contains(line, kind) {
				t.Errorf("the log line does not name the missing %s: %s", kind, line)
			}
		}
		op.waitLog("controller on", controllers.IstioControllerName)
		if v, ok := op.controllerEnabled(controllers.GatewayAPIControllerName); !ok || v != 0 {
			t.Errorf("istio_alb_controller_enabled{controller=%s} = %v (present %v), want 0", controllers.GatewayAPIControllerName, v, ok)
		}
		if v, ok := op.controllerEnabled(controllers.IstioControllerName); !ok || v != 1 {
			t.Errorf("istio_alb_controller_enabled{controller=%s} = %v (present %v), want 1", controllers.IstioControllerName, v, ok)
		}
		body := op.readyz()
		for _, check := range []string{"[+]controller-" + controllers.GatewayAPIControllerName + " ok", "[+]controller-" + controllers.IstioControllerName + " ok", "[+]informer-caches ok"} {
			if !strings.Contains(body, check) {
				t.Errorf("/readyz?verbose lacks %q:\n%s", check, body)
			}
		}
	})

	// An Istio Gateway is served: ALB, records, and the cutover of its Service.
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	if dns := s.waitDNS("gw"); !strings.Contains(dns, "elb.amazonaws.com") {
		t.Fatalf("unexpected ALB DNS name %q", dns)
	}
	if by := s.owned(s.gatewayKey("gw")); len(by["lb"]) != 1 || len(by["tg"]) != 1 || len(by["sg"]) != 1 {
		t.Fatalf("owned resources %v", by)
	}
	s.waitServiceType(svc, corev1.ServiceTypeNodePort)

	t.Run("the status subcommand reports the Istio Gateway and skips the missing kind", func(t *testing.T) {
		out, stderr := runStatus(t, bin, kubeconfigAs(t, cp.Env, ""), "-n", s.appNS)
		rows := tableRows(t, out)
		if len(rows) != 1 || rows[0]["NAME"] != "gw" || rows[0]["PHASE"] != "ready" || !strings.Contains(rows[0]["LOAD-BALANCER"], "elb.amazonaws.com") {
			t.Fatalf("status rows %v\n%s", rows, out)
		}
		if !strings.Contains(stderr, "gateway.networking.k8s.io/v1 Gateway: not served") {
			t.Errorf("status did not say the Gateway API kind is missing: %q", stderr)
		}
	})

	// Teardown restores the Service, which asks whether a Gateway of either kind still uses it:
	// the missing kind has none.
	s.deleteGateway("gw")
	s.waitServiceType(svc, corev1.ServiceTypeLoadBalancer)
	must(t, rig.Eventually(30*time.Second, 100*time.Millisecond, func() error {
		var gw istionet.Gateway
		if err := s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "gw"}, &gw); err == nil {
			return errorf("gateway still there with finalizers %v; events: %s", gw.Finalizers, s.eventSummary("gw"))
		}
		return nil
	}))
	if by := s.owned(s.gatewayKey("gw")); len(by) != 0 {
		t.Fatalf("resources left for the deleted gateway: %v", by)
	}

	// The Gateway API CRDs are installed: the running operator starts that controller.
	paths, err := rig.GatewayAPICRDPaths()
	must(t, err)
	must(t, cp.InstallCRDs(paths))
	t.Logf("operator log: %s", op.waitLog("controller started", controllers.GatewayAPIControllerName))
	must(t, rig.Eventually(10*time.Second, 200*time.Millisecond, func() error {
		if v, _ := op.controllerEnabled(controllers.GatewayAPIControllerName); v != 1 {
			return errorf("istio_alb_controller_enabled{controller=%s} = %v, want 1", controllers.GatewayAPIControllerName, v)
		}
		return nil
	}))
	// It serves Gateway API Gateways: istiod (imitated) deploys the Service, the operator builds
	// the ALB and reports in the condition.
	startIstiodOn(t, cp.Config)
	must(t, s.k8s.Create(s.ctx, fixtures.GatewayAPIGateway(s.istioNS, "web", enabled,
		fixtures.HTTPListener("http", 80, "web.example.com", gwapiv1.NamespacesFromSame))))
	gw := s.waitAPIGateway(s.istioNS, "web")
	if c := meta.FindStatusCondition(gw.Status.Conditions, controllers.ConditionLoadBalancerReady); c == nil || c.Status != "True" {
		t.Fatalf("condition %s: %+v", controllers.ConditionLoadBalancerReady, c)
	}
	if by := s.owned(apiKey(s.istioNS, "web")); len(by["lb"]) != 1 {
		t.Fatalf("owned resources of the Gateway API Gateway %v", by)
	}
	if body := op.readyz(); !strings.Contains(body, "[+]informer-caches ok") {
		t.Fatalf("/readyz after the late start:\n%s", body)
	}
	op.stop()
	if strings.Contains(op.logs.String(), "Observed a panic") {
		t.Fatalf("the operator panicked:\n%s", op.logs.String())
	}
}

// startIstiodOn runs the istiod imitation against a control plane until the test ends.
func startIstiodOn(t *testing.T, cfg *rest.Config) {
	t.Helper()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: controllers.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	must(t, err)
	must(t, istiod.InstallGatewayClass(context.Background(), mgr.GetClient()))
	must(t, (&istiod.Istiod{Client: mgr.GetClient()}).SetupWithManager(mgr, "istiod"))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = mgr.Start(ctx)
	}()
	t.Cleanup(func() { stop(); <-done })
}
