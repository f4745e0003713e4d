package controllers

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
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
		Help: "AWS API calls by service, operation and outcome (success, throttled, error).",
	}, []string{"service", "operation", "outcome"})
	managedGateways = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "istio_alb_managed_gateways",
		Help: "Gateways with an ALB programmed by this replica, by gateway kind.",
	}, []string{"kind"})
	programmedSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "istio_alb_gateway_programmed_seconds",
		Help:    "Time from a change of a gateway's desired AWS state to its ALB being programmed.",
		Buckets: prometheus.ExponentialBuckets(0.1, 2, 14),
	}, []string{"kind"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(reconcileDuration, awsCalls, managedGateways, programmedSeconds)
}

// ObserveAWSCall counts one AWS call in istio_alb_aws_api_calls_total.
func ObserveAWSCall(c clients.Call, err error) {
	outcome := "success"
	switch {
	case err == nil:
	case clients.IsThrottling(err):
		outcome = "throttled"
	default:
		outcome = "error"
	}
	awsCalls.WithLabelValues(c.Service, c.Operation, outcome).Inc()
}

func kindOf(gatewayKey string) string {
	kind, _, _ := strings.Cut(gatewayKey, "/")
	return kind
}

func observeReconcile(kind, result string, d time.Duration) {
	reconcileDuration.WithLabelValues(kind, result).Observe(d.Seconds())
}
