package controllers

import (
	"reflect"
	"runtime"
	"strings"
	"time"

	acmsdk "github.com/aws/aws-sdk-go-v2/service/acm"
	ec2sdk "github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2sdk "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	taggingsdk "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	route53sdk "github.com/aws/aws-sdk-go-v2/service/route53"
	wafv2sdk "github.com/aws/aws-sdk-go-v2/service/wafv2"
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/istio-alb-operator/istio-alb-operator/aws/acm"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/dns"
	"github.com/istio-alb-operator/istio-alb-operator/aws/ec2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/elbv2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/aws/wafv2"
)

// The operator's Prometheus metrics, served on --metrics-bind-address beside controller-runtime's
// (controller_runtime_reconcile_total and friends, per controller).
var (
	reconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "istio_alb_reconcile_duration_seconds",
		Help:    "Duration of gateway reconciles by gateway kind and result (success, requeue, error).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	}, []string{"kind", "result"})
	awsCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "istio_alb_aws_api_calls_total",
		Help: "AWS API calls by service, operation, outcome (success, throttled, error) and AWS error code (empty for successes and for failures without one).",
	}, []string{"service", "operation", "outcome", "error_code"})
	permissionErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "istio_alb_aws_permission_errors_total",
		Help: "AWS API calls refused for lack of permission or valid credentials (AccessDenied, UnauthorizedOperation, AuthFailure...), by service and operation.",
	}, []string{"service", "operation"})
	buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "istio_alb_build_info",
		Help: "Always 1; the labels say which build of the operator runs.",
	}, []string{"version", "go_version"})
	driftPasses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "istio_alb_drift_passes_total",
		Help: "Batched drift passes over the cluster's AWS resources, by result (success, error).",
	}, []string{"result"})
	driftedGateways = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "istio_alb_drifted_gateways",
		Help: "Gateways the last drift pass found drifted (and repaired).",
	})
	managedGateways = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "istio_alb_managed_gateways",
		Help: "Gateways with an ALB programmed by this replica, by gateway kind.",
	}, []string{"kind"})
	controllerEnabled = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "istio_alb_controller_enabled",
		Help: "1 when the controller of a Gateway kind is on (the API server serves its kinds; it reconciles on the leader), 0 while it is off because its CRDs are not installed.",
	}, []string{"controller"})
	programmedSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "istio_alb_gateway_programmed_seconds",
		Help:    "Time from a change of a gateway's desired AWS state to its ALB being programmed.",
		Buckets: prometheus.ExponentialBuckets(0.1, 2, 14),
	}, []string{"kind"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(reconcileDuration, awsCalls, permissionErrors, buildInfo, managedGateways, programmedSeconds, controllerEnabled, driftPasses, driftedGateways)
	// Every operation the operator can call starts with a zero count of permission errors, so
	// that increase() and alerts see the first AccessDenied, not only the ones after it.
	for service, api := range awsAPIs {
		for i := range api.NumMethod() {
			permissionErrors.WithLabelValues(service, api.Method(i).Name)
		}
	}
}

// awsAPIs are the SDK-shaped interfaces by the SDK's service id: their methods are every AWS
// operation the operator can call (aws/clients' IAM test holds the policy to the same list).
var awsAPIs = map[string]reflect.Type{
	ec2sdk.ServiceID:     reflect.TypeFor[ec2.API](),
	elbv2sdk.ServiceID:   reflect.TypeFor[elbv2.API](),
	acmsdk.ServiceID:     reflect.TypeFor[acm.API](),
	route53sdk.ServiceID: reflect.TypeFor[dns.API](),
	taggingsdk.ServiceID: reflect.TypeFor[tags.TaggingAPI](),
	wafv2sdk.ServiceID:   reflect.TypeFor[wafv2.API](),
}

// RecordBuildInfo publishes istio_alb_build_info for this build's version.
func RecordBuildInfo(version string) {
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
}

// ObserveAWSCall counts one AWS call in istio_alb_aws_api_calls_total, and a refused one in
// istio_alb_aws_permission_errors_total.
func ObserveAWSCall(c clients.Call, err error) {
	outcome, code := "success", ""
	if err != nil {
		code = clients.ErrorCode(err)
		outcome = "error"
		if clients.IsThrottling(err) {
			outcome = "throttled"
		}
	}
	awsCalls.WithLabelValues(c.Service, c.Operation, outcome, code).Inc()
	if clients.IsPermission(err) {
		permissionErrors.WithLabelValues(c.Service, c.Operation).Inc()
	}
}

func kindOf(gatewayKey string) string {
	kind, _, _ := strings.Cut(gatewayKey, "/")
	return kind
}

func observeReconcile(kind, result string, d time.Duration) {
	reconcileDuration.WithLabelValues(kind, result).Observe(d.Seconds())
}
