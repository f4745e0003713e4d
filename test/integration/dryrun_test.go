package integration_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

const dryRunPlanKey = "istio-alb.io/dry-run-plan"

// plannedChange is one line of the dry-run plan annotation.
type plannedChange struct{ action, kind, service, operation string }

var planLine = regexp.MustCompile(`^- (\S+) (\S+) .*? \(([^()]+) (\w+)\)(: .*)?$`)

// parsePlan reads the istio-alb.io/dry-run-plan annotation back into its changes.
func parsePlan(t testing.TB, text string) []plannedChange {
	t.Helper()
	lines := strings.Split(text, "\n")
	var out []plannedChange
	for _, l := range lines[1:] {
		m := planLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("plan line %q does not parse (plan:\n%s)", l, text)
		}
		out = append(out, plannedChange{m[1], m[2], m[3], m[4]})
	}
	return out
}

// awsCalls is the multiset of the AWS calls of a plan (its Kubernetes changes left out).
func awsCalls(plan []plannedChange) map[clients.Call]int {
	out := map[clients.Call]int{}
	for _, c := range plan {
		if c.service != "Kubernetes" {
			out[clients.Call{Service: c.service, Operation: c.operation}]++
		}
	}
	return out
}

// waitPlan waits for the plan annotation to differ from before and returns it.
func (s *scenario) waitPlan(name, before string) string {
	s.t.Helper()
	var text string
	must(s.t, rig.Eventually(60*time.Second, 100*time.Millisecond, func() error {
		gw := &istionet.Gateway{}
		if err := s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: name}, gw); err != nil {
			return err
		}
		if text = gw.Annotations[dryRunPlanKey]; text == "" || text == before {
			return fmt.Errorf("no new %s annotation yet; events: %s", dryRunPlanKey, s.eventSummary(name))
		}
		return nil
	}))
	return text
}

// settledWrites waits until the operator's AWS writes since before stop changing (for 2s) and
// returns them.
func (s *scenario) settledWrites(before map[clients.Call]int) map[clients.Call]int {
	s.t.Helper()
	last, stableSince := mutating(s.calls.Since(before)), time.Now()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		now := mutating(s.calls.Since(before))
		if !maps.Equal(now, last) {
			last, stableSince = now, time.Now()
			continue
		}
		if time.Since(stableSince) > 2*time.Second {
			break
		}
	}
	return last
}

func formatCalls(m map[clients.Call]int) string { return strings.Join(clients.Format(m), " ") }

func setAnnotations(s *scenario, name string, set map[string]string) {
	s.t.Helper()
	gw := &istionet.Gateway{}
	must(s.t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: name}, gw))
	before := gw.DeepCopy()
	for k, v := range set {
		if v == "" {
			delete(gw.Annotations, k)
		} else {
			gw.Annotations[k] = v
		}
	}
	must(s.t, s.k8s.Patch(s.ctx, gw, client.MergeFrom(before)))
}

// The comparison is of multisets of AWS calls (service and operation; the operation names the
// kind of resource): the call recorder counts calls by operation, and the order of writes of
// independent kinds is not the contract. Made-up ids of the dry run play no part.
func TestADryRunGatewayWritesNothingAndListsExactlyTheWritesTheRealRunThenMakes(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	before := s.calls.Snapshot()
	dry := map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/dry-run": "true"}
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, dry)))

	text := s.waitPlan("gw", "")
	if msg := s.event(s.appNS, "gw", controllers.ReasonDryRunPlan); !strings.Contains(msg, "nothing written") {
		t.Fatalf("DryRunPlan event %q", msg)
	}
	plan := parsePlan(t, text)
	t.Logf("plan:\n%s", text)
	// Nothing written: no AWS write, no Service change, no finalizer, nothing tagged.
	if w := mutating(s.calls.Since(before)); len(w) > 0 {
		t.Fatalf("the dry run wrote to AWS: %s", formatCalls(w))
	}
	gw := &istionet.Gateway{}
	must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "gw"}, gw))
	if controllerutil.ContainsFinalizer(gw, controllers.Finalizer) {
		t.Fatal("the dry run added the finalizer")
	}
	now := &corev1.Service{}
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), now))
	if now.ResourceVersion != svc.ResourceVersion || now.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Fatalf("the dry run changed the Service (type %s, resourceVersion %s → %s)", now.Spec.Type, svc.ResourceVersion, now.ResourceVersion)
	}
	if by := s.owned(s.gatewayKey("gw")); len(by) > 0 {
		t.Fatalf("AWS holds resources of the dry-run gateway: %v", by)
	}
	planned := awsCalls(plan)
	for _, op := range []string{"CreateSecurityGroup", "CreateTargetGroup", "RegisterTargets", "CreateLoadBalancer", "CreateListener", "ChangeResourceRecordSets"} {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(planned)), func(c clients.Call) bool { return c.Operation == op }) {
			t.Fatalf("the plan has no %s: %s", op, formatCalls(planned))
		}
	}
	kube := slices.DeleteFunc(slices.Clone(plan), func(c plannedChange) bool { return c.service != "Kubernetes" })
	if len(kube) != 2 || kube[0].operation != "AddFinalizer" || kube[1].kind != "service" {
		t.Fatalf("Kubernetes changes of the plan %v, want the finalizer and the Service's cutover", kube)
	}

	t.Run("the plan subcommand prints the same changes and writes nothing", func(t *testing.T) {
		bin := buildOperator(t)
		file := filepath.Join(t.TempDir(), "gateway.yaml")
		manifest := fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)
		manifest.TypeMeta.APIVersion, manifest.TypeMeta.Kind = "networking.istio.io/v1", "Gateway"
		data, err := yaml.Marshal(manifest)
		must(t, err)
		must(t, os.WriteFile(file, data, 0o600))
		gwBefore, svcBefore := &istionet.Gateway{}, &corev1.Service{}
		must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(gw), gwBefore))
		must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svcBefore))

		cmd := exec.CommandContext(s.ctx, bin, "plan", "-f", file, "--kubeconfig", kubeconfigAs(t, controlPlane.Env, ""),
			"--cluster-name", clusterName, "-o", "json")
		cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL="+rig.Endpoint(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("plan: %v\n%s", err, exitStderr(err))
		}
		var results []controllers.DryRunResult
		must(t, json.Unmarshal(out, &results))
		if len(results) != 1 || results[0].Gateway != s.gatewayKey("gw") {
			t.Fatalf("plan printed %s", out)
		}
		var cli []plannedChange
		for _, c := range results[0].Changes {
			cli = append(cli, plannedChange{c.Action, c.Kind, c.Service, c.Operation})
		}
		if !slices.Equal(cli, plan) {
			t.Fatalf("the plan subcommand lists\n%v\nthe annotation\n%v", cli, plan)
		}
		gwAfter, svcAfter := &istionet.Gateway{}, &corev1.Service{}
		must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(gw), gwAfter))
		must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svcAfter))
		if gwAfter.ResourceVersion != gwBefore.ResourceVersion || svcAfter.ResourceVersion != svcBefore.ResourceVersion {
			t.Fatal("the plan subcommand wrote to the cluster")
		}
		if by := s.owned(s.gatewayKey("gw")); len(by) > 0 {
			t.Fatalf("AWS holds resources after the plan subcommand: %v", by)
		}

		// The table names each change.
		tableCmd := exec.CommandContext(s.ctx, bin, cmd.Args[1:len(cmd.Args)-2]...)
		tableCmd.Env = cmd.Env
		table, err := tableCmd.Output()
		if err != nil {
			t.Fatalf("plan (table): %v\n%s", err, exitStderr(err))
		}
		for _, want := range []string{"GATEWAY " + s.gatewayKey("gw"), "ACTION", "CreateLoadBalancer", "load-balancer"} {
			if !strings.Contains(string(table), want) {
				t.Fatalf("the table lacks %q:\n%s", want, table)
			}
		}
	})

	// Dry run off: the real run makes exactly the planned writes.
	real := s.calls.Snapshot()
	setAnnotations(s, "gw", map[string]string{"istio-alb.io/dry-run": ""})
	s.waitDNS("gw")
	s.waitServiceType(svc, corev1.ServiceTypeNodePort)
	made := s.settledWrites(real)
	if !maps.Equal(made, planned) {
		t.Fatalf("the real run wrote\n%s\nthe plan said\n%s", formatCalls(made), formatCalls(planned))
	}
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(gw), gw))
	if _, has := gw.Annotations[dryRunPlanKey]; has || !controllerutil.ContainsFinalizer(gw, controllers.Finalizer) {
		t.Fatalf("after the real run: plan annotation left %v, finalizer %v", has, gw.Finalizers)
	}
}

func TestADryRunOfABuiltGatewayListsOnlyTheModificationsItsNewAnnotationsAsk(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	s.settledWrites(s.calls.Snapshot())

	before := s.calls.Snapshot()
	setAnnotations(s, "gw", map[string]string{"istio-alb.io/dry-run": "true", "istio-alb.io/load-balancer-attributes": "idle_timeout.timeout_seconds=120"})
	text := s.waitPlan("gw", "")
	plan := parsePlan(t, text)
	t.Logf("plan:\n%s", text)
	if w := mutating(s.calls.Since(before)); len(w) > 0 {
		t.Fatalf("the dry run wrote to AWS: %s", formatCalls(w))
	}
	if len(plan) == 0 {
		t.Fatal("the plan is empty")
	}
	for _, c := range plan {
		if c.action != "modify" || c.service == "Kubernetes" {
			t.Fatalf("the plan of a built gateway has %v; want only AWS modifications:\n%s", c, text)
		}
	}
	planned := awsCalls(plan)
	if planned[clients.Call{Service: "Elastic Load Balancing v2", Operation: "ModifyLoadBalancerAttributes"}] != 1 {
		t.Fatalf("the plan lacks the attribute change: %s", formatCalls(planned))
	}
	real := s.calls.Snapshot()
	setAnnotations(s, "gw", map[string]string{"istio-alb.io/dry-run": ""})
	lb, _, _ := s.loadBalancer(s.gatewayKey("gw"))
	must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		if v := s.attribute(lb.LoadBalancerArn, "idle_timeout.timeout_seconds"); v != "120" {
			return fmt.Errorf("idle timeout %s", v)
		}
		return nil
	}))
	if made := s.settledWrites(real); !maps.Equal(made, planned) {
		t.Fatalf("the real run wrote\n%s\nthe plan said\n%s", formatCalls(made), formatCalls(planned))
	}
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func TestADryRunOfASchemeChangeListsTheNewALBAndTheOldOnesDeletionAsTheRealRunMakesThem(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	s.settledWrites(s.calls.Snapshot())
	old, _, _ := s.loadBalancer(s.gatewayKey("gw"))

	before := s.calls.Snapshot()
	setAnnotations(s, "gw", map[string]string{"istio-alb.io/dry-run": "true", "istio-alb.io/scheme": "internal"})
	text := s.waitPlan("gw", "")
	t.Logf("plan:\n%s", text)
	if w := mutating(s.calls.Since(before)); len(w) > 0 {
		t.Fatalf("the dry run wrote to AWS: %s", formatCalls(w))
	}
	planned := awsCalls(parsePlan(t, text))
	if planned[clients.Call{Service: "Elastic Load Balancing v2", Operation: "CreateLoadBalancer"}] != 1 ||
		planned[clients.Call{Service: "Elastic Load Balancing v2", Operation: "DeleteLoadBalancer"}] != 1 {
		t.Fatalf("the plan of a scheme change: %s", formatCalls(planned))
	}
	real := s.calls.Snapshot()
	setAnnotations(s, "gw", map[string]string{"istio-alb.io/dry-run": ""})
	// One read a try (the new ALB may appear between two reads): the one ALB tagged, described.
	must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		by := s.owned(s.gatewayKey("gw"))
		if len(by["lb"]) != 1 {
			return fmt.Errorf("%d load balancers", len(by["lb"]))
		}
		out, err := s.elb.DescribeLoadBalancers(s.ctx, &elasticloadbalancingv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{aws.ToString(by["lb"][0].ResourceARN)}})
		if err != nil {
			return err
		}
		if lb := out.LoadBalancers[0]; lb.Scheme != "internal" || aws.ToString(lb.LoadBalancerArn) == aws.ToString(old.LoadBalancerArn) {
			return fmt.Errorf("scheme %s", lb.Scheme)
		}
		return nil
	}))
	if made := s.settledWrites(real); !maps.Equal(made, planned) {
		t.Fatalf("the real run wrote\n%s\nthe plan said\n%s", formatCalls(made), formatCalls(planned))
	}
}

func TestADryRunGatewayBesideABuiltOneOnTheSameServicePlansOnlyItsOwnResources(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "one", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("one")
	s.settledWrites(s.calls.Snapshot())

	before := s.calls.Snapshot()
	dry := map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/dry-run": "true"}
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "two", s.selector, []string{"two.example.com"}, dry)))
	text := s.waitPlan("two", "")
	t.Logf("plan:\n%s", text)
	if w := mutating(s.calls.Since(before)); len(w) > 0 {
		t.Fatalf("the dry run wrote to AWS: %s", formatCalls(w))
	}
	plan := parsePlan(t, text)
	// The backend group and the node rules for the shared nodePorts exist; the Service is
	// already NodePort.
	for _, c := range plan {
		if c.kind == "service" {
			t.Fatalf("the plan of a second gateway changes the Service:\n%s", text)
		}
	}
	if strings.Contains(text, "-backend-") || strings.Contains(text, s.env.NodeSecurityGroupID) {
		t.Fatalf("the plan touches the backend group or the node security group again:\n%s", text)
	}
	planned := awsCalls(plan)
	real := s.calls.Snapshot()
	setAnnotations(s, "two", map[string]string{"istio-alb.io/dry-run": ""})
	s.waitDNS("two")
	if made := s.settledWrites(real); !maps.Equal(made, planned) {
		t.Fatalf("the real run wrote\n%s\nthe plan said\n%s", formatCalls(made), formatCalls(planned))
	}
}

func TestADryRunGatewayAPIGatewayWritesNothingAndListsTheWritesTheRealRunMakes(t *testing.T) {
	s := newScenario(t, scenarioOptions{istiod: true})
	ns := s.istioNS
	before := s.calls.Snapshot()
	dry := map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/dry-run": "true"}
	must(t, s.k8s.Create(s.ctx, fixtures.GatewayAPIGateway(ns, "gateway", dry, fixtures.HTTPListener("http", 80, "*.example.com", gwapiv1.NamespacesFromAll))))
	must(t, s.k8s.Create(s.ctx, fixtures.HTTPRoute(s.appNS, "httpbin", ns, "gateway", "", "httpbin.example.com")))
	// istiod makes the Service meanwhile: the plan is complete once it lists the ALB.
	gw := &gwapiv1.Gateway{}
	var text string
	must(t, rig.Eventually(60*time.Second, 100*time.Millisecond, func() error {
		if err := s.k8s.Get(s.ctx, client.ObjectKey{Namespace: ns, Name: "gateway"}, gw); err != nil {
			return err
		}
		if text = gw.Annotations[dryRunPlanKey]; !strings.Contains(text, "CreateLoadBalancer") || !strings.Contains(text, "httpbin.example.com") {
			return fmt.Errorf("plan %q", text)
		}
		return nil
	}))
	t.Logf("plan:\n%s", text)
	if w := mutating(s.calls.Since(before)); len(w) > 0 {
		t.Fatalf("the dry run wrote to AWS: %s", formatCalls(w))
	}
	if controllerutil.ContainsFinalizer(gw, controllers.Finalizer) || gw.Annotations[frontend.IstioServiceTypeAnnotation] != "" {
		t.Fatalf("the dry run wrote the Gateway: finalizers %v, annotations %v", gw.Finalizers, gw.Annotations)
	}
	planned := awsCalls(parsePlan(t, text))

	real := s.calls.Snapshot()
	before2 := gw.DeepCopy()
	delete(gw.Annotations, "istio-alb.io/dry-run")
	must(t, s.k8s.Patch(s.ctx, gw, client.MergeFrom(before2)))
	s.waitAPIGateway(ns, "gateway")
	if made := s.settledWrites(real); !maps.Equal(made, planned) {
		t.Fatalf("the real run wrote\n%s\nthe plan said\n%s", formatCalls(made), formatCalls(planned))
	}
}
