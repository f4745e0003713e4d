package controllers

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
)

func apiError(code string) error {
	// As the SDK returns it: the service's error inside an operation error.
	return &smithy.OperationError{ServiceID: "EC2", OperationName: "Op", Err: &smithy.GenericAPIError{Code: code, Message: "m"}}
}

func TestAWSCallsAreCountedWithTheirErrorCodeAndRefusedOnesAsPermissionErrors(t *testing.T) {
	cases := []struct {
		name                 string
		err                  error
		outcome, code        string
		permissionErrorAdded bool
	}{
		{"a success has an empty error code", nil, "success", "", false},
		{"AccessDenied is an error with its code and a permission error", apiError("AccessDenied"), "error", "AccessDenied", true},
		{"EC2's UnauthorizedOperation is a permission error", apiError("UnauthorizedOperation"), "error", "UnauthorizedOperation", true},
		{"ACM's AccessDeniedException is a permission error", apiError("AccessDeniedException"), "error", "AccessDeniedException", true},
		{"credentials AWS does not accept are a permission error", apiError("AuthFailure"), "error", "AuthFailure", true},
		{"Throttling is throttled with its code, not a permission error", apiError("Throttling"), "throttled", "Throttling", false},
		{"a quota error keeps its code", apiError("TooManyLoadBalancers"), "error", "TooManyLoadBalancers", false},
		{"a failure without an AWS code (network) has an empty code", fmt.Errorf("dial: %w", errors.New("connection refused")), "error", "", false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			call := clients.Call{Service: "Test Service", Operation: fmt.Sprintf("Operation%d", i)}
			ObserveAWSCall(call, c.err)
			if got := value(t, awsCalls.WithLabelValues(call.Service, call.Operation, c.outcome, c.code)); got != 1 {
				t.Errorf("istio_alb_aws_api_calls_total{outcome=%q,error_code=%q} = %v, want 1", c.outcome, c.code, got)
			}
			want := 0.0
			if c.permissionErrorAdded {
				want = 1
			}
			if got := value(t, permissionErrors.WithLabelValues(call.Service, call.Operation)); got != want {
				t.Errorf("istio_alb_aws_permission_errors_total = %v, want %v", got, want)
			}
		})
	}
}

func TestEveryOperationTheOperatorCanCallHasAPermissionErrorSeriesFromTheStart(t *testing.T) {
	// Read the series without creating any (WithLabelValues would).
	series := map[string]float64{}
	ch := make(chan prometheus.Metric)
	go func() { permissionErrors.Collect(ch); close(ch) }()
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{}
		for _, l := range d.Label {
			labels[l.GetName()] = l.GetValue()
		}
		series[labels["service"]+"."+labels["operation"]] = d.Counter.GetValue()
	}
	for _, want := range []string{
		"EC2.AuthorizeSecurityGroupIngress", "EC2.DescribeInstances",
		"Elastic Load Balancing v2.CreateLoadBalancer", "Elastic Load Balancing v2.AddListenerCertificates",
		"ACM.DescribeCertificate", "ACM.RequestCertificate",
		"Route 53.ChangeResourceRecordSets", "Route 53.ListHostedZones",
		"Resource Groups Tagging API.GetResources",
	} {
		if v, ok := series[want]; !ok || v != 0 {
			t.Errorf("istio_alb_aws_permission_errors_total for %s = %v (present %v), want a 0 series", want, v, ok)
		}
	}
}

func TestBuildInfoCarriesTheVersionAndGoVersion(t *testing.T) {
	RecordBuildInfo("v1.2.3-test")
	if got := value(t, buildInfo.WithLabelValues("v1.2.3-test", runtime.Version())); got != 1 {
		t.Fatalf("istio_alb_build_info = %v, want 1", got)
	}
}

// value reads one counter or gauge.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
