package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
	dto "github.com/prometheus/client_model/go"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/localstack/seed"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/istiod"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

const clusterName = "itest"

var (
	controlPlane *rig.ControlPlane
	restConfig   *rest.Config
	// operatorConfig acts as the operator's ServiceAccount from manifests/install.yaml.
	operatorConfig *rest.Config
	skipReason     string
	scenarioN      atomic.Int32
)

func TestMain(m *testing.M) {
	if missing := rig.Missing(); missing != "" {
		if os.Getenv(rig.RequireEnv) == "1" {
			fmt.Fprintf(os.Stderr, "integration rig required (%s=1) but missing: %s\n", rig.RequireEnv, missing)
			os.Exit(1)
		}
		skipReason = "integration rig not running: " + missing + "; `make test` starts it"
		os.Exit(m.Run())
	}
	if os.Getenv("ISTIO_ALB_TEST_VERBOSE") == "1" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	}
	cp, err := rig.StartControlPlane()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	controlPlane, restConfig = cp, cp.Config
	// The operator runs as the chart's ServiceAccount: a verb missing from its RBAC fails a scenario.
	operatorConfig, err = rig.InstallOperator(context.Background(), cp.Config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = cp.Stop()
		os.Exit(1)
	}
	code := m.Run()
	_ = cp.Stop()
	if code == 0 {
		if err := checkPolicy(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// seen are the AWS operations the operator made in all scenarios.
var (
	seenMu sync.Mutex
	seen   = map[clients.Call]int{}
)

// checkPolicy fails when the operator made a call manifests/iam-policy.json does not allow.
func checkPolicy() error {
	data, err := os.ReadFile(filepath.Join(rig.Root(), "manifests", "iam-policy.json"))
	if err != nil {
		return err
	}
	var doc struct {
		Statement []struct {
			Effect string
			Action []string
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("manifests/iam-policy.json: %w", err)
	}
	allowed := map[string]bool{}
	for _, st := range doc.Statement {
		if st.Effect != "Allow" {
			continue // the Deny statements name tag calls the operator never makes
		}
		for _, a := range st.Action {
			allowed[a] = true
		}
	}
	var missing []string
	for c := range seen {
		if !allowed[c.IAMAction()] {
			missing = append(missing, c.IAMAction())
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("the scenarios made AWS calls manifests/iam-policy.json does not allow: %v", missing)
	}
	fmt.Printf("iam-policy: all %d operations the scenarios made are in manifests/iam-policy.json\n", len(seen))
	return nil
}

// scenario is one test's world: a freshly seeded AWS account, the article's objects in their own
// namespaces, and the operator's manager running in-process with every AWS call counted.
type scenario struct {
	t        testing.TB
	ctx      context.Context
	k8s      client.Client
	env      *seed.Environment
	calls    *clients.Recorder
	istioNS  string
	appNS    string
	selector map[string]string
	nodes    []*corev1.Node

	ec2     *ec2.Client
	elb     *elbv2.Client
	tagging *tagging.Client
	stopMgr func()
	opts    scenarioOptions
	awsCfg  aws.Config
}

type scenarioOptions struct {
	nodes        int // seeded instances
	initialNodes int // Node objects created at start (default: all)
	noManager    bool
	syncPeriod   time.Duration // default 10m, i.e. no drift check during a scenario
	certTTL      time.Duration // ACM catalog TTL, default 5m
	istiod       bool          // run the istiod imitation (Gateway API automated deployment)
	// userErrorRetry is the operator's first delay before a gateway with a user error is looked
	// at again (default the operator's, 30s).
	userErrorRetry time.Duration
	// awsEndpoint is where the in-process operator sends its AWS calls (default the rig's
	// endpoint; a fault-injection proxy in front of it for the fault scenarios).
	awsEndpoint string
}

func newScenario(t testing.TB, o scenarioOptions) *scenario {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if o.nodes == 0 {
		o.nodes = 2
	}
	if o.initialNodes == 0 {
		o.initialNodes = o.nodes
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	n := scenarioN.Add(1)
	s := &scenario{t: t, ctx: ctx, calls: &clients.Recorder{},
		istioNS: fmt.Sprintf("istio-system-%d", n), appNS: fmt.Sprintf("test-ns-%d", n),
		selector: map[string]string{"istio": fmt.Sprintf("ingressgateway-%d", n)}}
	if n == 1 {
		s.istioNS, s.appNS = "istio-system", "test-ns"
	}
	var err error
	s.k8s, err = client.New(restConfig, client.Options{Scheme: controllers.Scheme()})
	must(t, err)
	cfg, err := rig.AWSConfig(ctx)
	must(t, err)
	s.ec2, s.elb, s.tagging = ec2.NewFromConfig(cfg), elbv2.NewFromConfig(cfg), tagging.NewFromConfig(cfg)
	s.awsCfg = cfg
	must(t, seed.Reset(ctx, rig.Endpoint()))
	s.env, err = seed.Seed(ctx, cfg, seed.Options{ClusterName: clusterName, Nodes: o.nodes})
	must(t, err)

	for _, ns := range []string{s.istioNS, s.appNS} {
		must(t, client.IgnoreAlreadyExists(s.k8s.Create(ctx, fixtures.Namespace(ns))))
	}
	for i := 0; i < o.initialNodes; i++ {
		s.addNode(i, true)
	}
	t.Cleanup(s.cleanup)
	if o.syncPeriod == 0 {
		o.syncPeriod = 10 * time.Minute
	}
	s.opts = o
	if o.istiod {
		s.startIstiod()
	}
	if !o.noManager {
		s.startManager(o.syncPeriod)
	}
	return s
}

func (s *scenario) startManager(syncPeriod time.Duration) {
	s.startManagerWith(controllers.Options{SyncPeriod: syncPeriod, CertificateCacheTTL: s.opts.certTTL, UserErrorRetry: s.opts.userErrorRetry})
}

// startManagerWith runs the operator with o, completed with the scenario's cluster and endpoint.
func (s *scenario) startManagerWith(o controllers.Options) {
	mctx, stop := context.WithCancel(context.Background())
	o.ClusterName, o.AWSRegion, o.AWSEndpointURL = clusterName, "us-east-1", rig.Endpoint()
	if s.opts.awsEndpoint != "" {
		o.AWSEndpointURL = s.opts.awsEndpoint
	}
	o.MetricsBindAddress, o.HealthProbeBindAddress = "0", "0"
	o.SkipNameValidation, o.AWSCalls = true, s.calls
	mgr, err := controllers.NewManager(mctx, operatorConfig, o)
	must(s.t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(mctx); err != nil {
			s.t.Errorf("manager stopped: %v", err)
		}
	}()
	s.stopMgr = func() { stop(); <-done }
}

// startIstiod runs the istiod imitation in its own manager until the scenario ends.
func (s *scenario) startIstiod() {
	must(s.t, istiod.InstallGatewayClass(s.ctx, s.k8s))
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{Scheme: controllers.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	must(s.t, err)
	must(s.t, (&istiod.Istiod{Client: mgr.GetClient()}).SetupWithManager(mgr, "istiod"))
	mctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = mgr.Start(mctx)
	}()
	s.t.Cleanup(func() { stop(); <-done })
}

// cleanup deletes the scenario's Gateways while the operator still runs (so finalizers are
// honoured), then stops it and removes the cluster-scoped objects.
func (s *scenario) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, list := range []client.ObjectList{&istionet.GatewayList{}, &gwapiv1.GatewayList{}} {
		if err := s.k8s.List(ctx, list); err != nil {
			continue
		}
		items, _ := meta.ExtractList(list)
		for _, item := range items {
			gw := item.(client.Object)
			if gw.GetNamespace() != s.appNS && gw.GetNamespace() != s.istioNS {
				continue
			}
			_ = s.k8s.Delete(ctx, gw)
			_ = rig.Eventually(30*time.Second, 100*time.Millisecond, func() error {
				err := s.k8s.Get(ctx, client.ObjectKeyFromObject(gw), gw)
				if apierrors.IsNotFound(err) {
					return nil
				}
				if s.stopMgr == nil && err == nil { // no operator: release by hand
					gw.SetFinalizers(nil)
					_ = s.k8s.Update(ctx, gw)
				}
				return fmt.Errorf("gateway %s still present", gw.GetName())
			})
		}
	}
	if s.stopMgr != nil {
		s.stopMgr()
	}
	seenMu.Lock()
	for c, n := range s.calls.Snapshot() {
		seen[c] += n
	}
	seenMu.Unlock()
	for _, n := range s.nodes {
		_ = s.k8s.Delete(ctx, n)
	}
	for _, ns := range []string{s.istioNS, s.appNS} {
		var svcs corev1.ServiceList
		if err := s.k8s.List(ctx, &svcs, client.InNamespace(ns)); err == nil {
			for i := range svcs.Items {
				_ = s.k8s.Delete(ctx, &svcs.Items[i])
			}
		}
	}
}

func (s *scenario) addNode(i int, ready bool) *corev1.Node {
	inst := s.env.Instances[i]
	node := fixtures.Node(fmt.Sprintf("node-%s", inst.ID), inst.ProviderID())
	must(s.t, s.k8s.Create(s.ctx, node))
	fixtures.SetReady(node, ready)
	must(s.t, s.k8s.Status().Update(s.ctx, node))
	s.nodes = append(s.nodes, node)
	return node
}

// article creates the istio-ingressgateway Service and Deployment and returns the Service as
// created (with the nodePorts the API server allocated).
func (s *scenario) article(probePath string) *corev1.Service {
	svc := fixtures.IngressGatewayService(s.istioNS, s.selector)
	must(s.t, s.k8s.Create(s.ctx, svc))
	must(s.t, s.k8s.Create(s.ctx, fixtures.IngressGatewayDeployment(s.istioNS, s.selector, probePath)))
	must(s.t, s.k8s.Create(s.ctx, fixtures.TestService(s.appNS)))
	return svc
}

func (s *scenario) gatewayKey(name string) string { return "istio/" + s.appNS + "/" + name }

// owned lists the AWS resources tagged for the gateway, by type.
func (s *scenario) owned(gatewayKey string) map[string][]taggingtypes.ResourceTagMapping {
	s.t.Helper()
	out, err := s.tagging.GetResources(s.ctx, &tagging.GetResourcesInput{TagFilters: []taggingtypes.TagFilter{
		{Key: aws.String(tags.Cluster), Values: []string{clusterName}},
		{Key: aws.String(tags.Gateway), Values: []string{gatewayKey}},
	}})
	must(s.t, err)
	by := map[string][]taggingtypes.ResourceTagMapping{}
	for _, r := range out.ResourceTagMappingList {
		arn := aws.ToString(r.ResourceARN)
		switch {
		case strings.Contains(arn, ":loadbalancer/"):
			by["lb"] = append(by["lb"], r)
		case strings.Contains(arn, ":targetgroup/"):
			by["tg"] = append(by["tg"], r)
		case strings.Contains(arn, ":security-group/"):
			by["sg"] = append(by["sg"], r)
		default:
			by["other"] = append(by["other"], r)
		}
	}
	return by
}

// waitDNS waits for the operator to publish the ALB's DNS name on the Gateway.
func (s *scenario) waitDNS(name string) string {
	s.t.Helper()
	var dns string
	err := rig.Eventually(60*time.Second, 100*time.Millisecond, func() error {
		gw := &istionet.Gateway{}
		if err := s.k8s.Get(s.ctx, types.NamespacedName{Namespace: s.appNS, Name: name}, gw); err != nil {
			return err
		}
		if dns = gw.Annotations["istio-alb.io/load-balancer-dns"]; dns == "" {
			return fmt.Errorf("no load-balancer-dns annotation yet; events: %s", s.eventSummary(name))
		}
		return nil
	})
	must(s.t, err)
	return dns
}

// waitServiceType waits until the Service (re-read into svc) has the given type.
func (s *scenario) waitServiceType(svc *corev1.Service, want corev1.ServiceType) {
	s.t.Helper()
	must(s.t, rig.Eventually(30*time.Second, 100*time.Millisecond, func() error {
		if err := s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			return err
		}
		if svc.Spec.Type != want {
			return fmt.Errorf("service %s/%s is %s, want %s", svc.Namespace, svc.Name, svc.Spec.Type, want)
		}
		return nil
	}))
}

// eventsWith waits until the Events of the named object with the reason mention every one of
// the strings, and returns their messages.
func (s *scenario) eventsWith(namespace, name, reason string, mentions ...string) []string {
	s.t.Helper()
	var msgs []string
	err := rig.Eventually(30*time.Second, 100*time.Millisecond, func() error {
		var list corev1.EventList
		if err := s.k8s.List(s.ctx, &list, client.InNamespace(namespace)); err != nil {
			return err
		}
		msgs = nil
		for _, e := range list.Items {
			if e.InvolvedObject.Name == name && e.Reason == reason {
				msgs = append(msgs, e.Message)
			}
		}
		all := strings.Join(msgs, "\n")
		for _, m := range mentions {
			if !strings.Contains(all, m) {
				return fmt.Errorf("no %s event on %s/%s mentions %q; events: %s", reason, namespace, name, m, s.eventSummary(name))
			}
		}
		return nil
	})
	must(s.t, err)
	return msgs
}

// event waits for an Event on the named object with the reason and returns its message.
func (s *scenario) event(namespace, name, reason string) string {
	s.t.Helper()
	var msg string
	err := rig.Eventually(30*time.Second, 100*time.Millisecond, func() error {
		var list corev1.EventList
		if err := s.k8s.List(s.ctx, &list, client.InNamespace(namespace)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.InvolvedObject.Name == name && e.Reason == reason {
				msg = e.Message
				return nil
			}
		}
		return fmt.Errorf("no %s event on %s/%s; events: %s", reason, namespace, name, s.eventSummary(name))
	})
	must(s.t, err)
	return msg
}

func (s *scenario) eventSummary(name string) string {
	var list corev1.EventList
	_ = s.k8s.List(s.ctx, &list, client.InNamespace(s.appNS))
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return strings.Join(out, " | ")
}

// loadBalancer returns the gateway's one ALB with its listeners and target group.
func (s *scenario) loadBalancer(gatewayKey string) (elbv2types.LoadBalancer, []elbv2types.Listener, elbv2types.TargetGroup) {
	s.t.Helper()
	by := s.owned(gatewayKey)
	if len(by["lb"]) != 1 || len(by["tg"]) != 1 {
		s.t.Fatalf("want 1 load balancer and 1 target group for %s, have %d and %d", gatewayKey, len(by["lb"]), len(by["tg"]))
	}
	lbs, err := s.elb.DescribeLoadBalancers(s.ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{aws.ToString(by["lb"][0].ResourceARN)}})
	must(s.t, err)
	ls, err := s.elb.DescribeListeners(s.ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: lbs.LoadBalancers[0].LoadBalancerArn})
	must(s.t, err)
	tgs, err := s.elb.DescribeTargetGroups(s.ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{aws.ToString(by["tg"][0].ResourceARN)}})
	must(s.t, err)
	return lbs.LoadBalancers[0], ls.Listeners, tgs.TargetGroups[0]
}

// deleteGateway deletes the scenario's Istio Gateway in the app namespace.
func (s *scenario) deleteGateway(name string) {
	s.t.Helper()
	var gw istionet.Gateway
	must(s.t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: name}, &gw))
	must(s.t, s.k8s.Delete(s.ctx, &gw))
}

// assertIdleReconcile changes the Istio Gateway in a way that leaves its desired AWS state alone
// (a label), waits for the reconcile that causes, and fails if AWS was called meanwhile.
func (s *scenario) assertIdleReconcile(name string) {
	s.t.Helper()
	before := s.calls.Snapshot()
	n := reconciles()
	var gw istionet.Gateway
	must(s.t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: name}, &gw))
	gw.Labels = map[string]string{"touched": time.Now().Format("150405.000000")}
	must(s.t, s.k8s.Update(s.ctx, &gw))
	must(s.t, rig.Eventually(20*time.Second, 50*time.Millisecond, func() error {
		if reconciles() <= n {
			return fmt.Errorf("no reconcile yet")
		}
		return nil
	}))
	if calls := s.calls.Since(before); len(calls) != 0 {
		s.t.Fatalf("an idle reconcile called AWS: %v", clients.Format(calls))
	}
}

// listener returns the listener on port, or fails the test.
func (s *scenario) listener(listeners []elbv2types.Listener, port int32) elbv2types.Listener {
	s.t.Helper()
	for _, l := range listeners {
		if aws.ToInt32(l.Port) == port {
			return l
		}
	}
	s.t.Fatalf("no listener on port %d among %d", port, len(listeners))
	return elbv2types.Listener{}
}

// forwards reports whether the listener's only default action forwards to the target group.
func forwards(l elbv2types.Listener, tgARN *string) bool {
	return len(l.DefaultActions) == 1 && l.DefaultActions[0].Type == elbv2types.ActionTypeEnumForward &&
		aws.ToString(l.DefaultActions[0].TargetGroupArn) == aws.ToString(tgARN)
}

// listenerCertificates returns the listener's default certificate and its SNI certificates (sorted).
func (s *scenario) listenerCertificates(l elbv2types.Listener) (string, []string) {
	s.t.Helper()
	out, err := s.elb.DescribeListenerCertificates(s.ctx, &elbv2.DescribeListenerCertificatesInput{ListenerArn: l.ListenerArn})
	must(s.t, err)
	def, sni := "", []string{}
	for _, c := range out.Certificates {
		if aws.ToBool(c.IsDefault) {
			def = aws.ToString(c.CertificateArn)
		} else {
			sni = append(sni, aws.ToString(c.CertificateArn))
		}
	}
	sort.Strings(sni)
	return def, sni
}

// targets returns the registered "id:port" targets of a target group, sorted.
func (s *scenario) targets(tgARN *string) []string {
	s.t.Helper()
	out, err := s.elb.DescribeTargetHealth(s.ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tgARN})
	must(s.t, err)
	var ts []string
	for _, d := range out.TargetHealthDescriptions {
		ts = append(ts, fmt.Sprintf("%s:%d", aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port)))
	}
	sort.Strings(ts)
	return ts
}

// reconciles is the operator's count of finished Gateway reconciles (controller-runtime's metric).
func reconciles() float64 {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return 0
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelIs(m, "controller", "istio-gateway") {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func labelIs(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func mutating(calls map[clients.Call]int) map[clients.Call]int {
	out := map[clients.Call]int{}
	for c, n := range calls {
		if clients.IsMutating(c.Operation) {
			out[c] = n
		}
	}
	return out
}

func total(calls map[clients.Call]int) int {
	n := 0
	for _, v := range calls {
		n += v
	}
	return n
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
