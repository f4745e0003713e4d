package health

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

func ptr[T any](v T) *T { return &v }

var istioPorts = []frontend.ServicePort{
	{Name: "status-port", Port: 15021, TargetPort: intstr.FromInt32(15021), NodePort: 31021},
	{Name: "http2", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080},
	{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443), NodePort: 30443},
}

func TestForInstanceTargets(t *testing.T) {
	cases := []struct {
		sentence  string
		fe        frontend.Frontend
		o         Overrides
		wantPort  string
		wantPath  string
		wantProto string
		wantCode  string
		wantErr   bool
	}{
		{sentence: "the status port's nodePort and the probe's path are used",
			fe:       frontend.Frontend{ServicePorts: istioPorts, Probe: &frontend.Probe{Path: "/healthz/ready", Port: intstr.FromInt32(15021)}},
			wantPort: "31021", wantPath: "/healthz/ready", wantProto: "HTTP", wantCode: "200"},
		{sentence: "a custom probe path is followed",
			fe:       frontend.Frontend{ServicePorts: istioPorts, Probe: &frontend.Probe{Path: "/custom", Port: intstr.FromInt32(15021)}},
			wantPort: "31021", wantPath: "/custom", wantProto: "HTTP", wantCode: "200"},
		{sentence: "without a probe the default path is used on the port named status-port",
			fe:       frontend.Frontend{ServicePorts: istioPorts},
			wantPort: "31021", wantPath: DefaultPath, wantProto: "HTTP", wantCode: "200"},
		{sentence: "a probe on another port picks the Service port targeting it",
			fe: frontend.Frontend{ServicePorts: append([]frontend.ServicePort{{Name: "health", Port: 9000, TargetPort: intstr.FromInt32(9001), NodePort: 32001}}, istioPorts...),
				Probe: &frontend.Probe{Path: "/ok", Port: intstr.FromInt32(9001)}},
			wantPort: "32001", wantPath: "/ok", wantProto: "HTTP", wantCode: "200"},
		{sentence: "an unnamed port targeting 15021 is the status port",
			fe:       frontend.Frontend{ServicePorts: []frontend.ServicePort{{Port: 15021, TargetPort: intstr.FromInt32(15021), NodePort: 31500}, istioPorts[1]}},
			wantPort: "31500", wantPath: DefaultPath, wantProto: "HTTP", wantCode: "200"},
		{sentence: "an HTTPS probe gives an HTTPS health check",
			fe:       frontend.Frontend{ServicePorts: istioPorts, Probe: &frontend.Probe{Path: "/r", Port: intstr.FromInt32(15021), Scheme: "HTTPS"}},
			wantPort: "31021", wantPath: "/r", wantProto: "HTTPS", wantCode: "200"},
		{sentence: "overrides win over everything derived",
			fe:       frontend.Frontend{ServicePorts: istioPorts},
			o:        Overrides{Path: ptr("/x"), Port: ptr("traffic-port"), SuccessCodes: ptr("200-399")},
			wantPort: "traffic-port", wantPath: "/x", wantProto: "HTTP", wantCode: "200-399"},
		{sentence: "a port override makes a missing status port acceptable",
			fe:       frontend.Frontend{ServicePorts: istioPorts[1:]},
			o:        Overrides{Port: ptr("30999")},
			wantPort: "30999", wantPath: DefaultPath, wantProto: "HTTP", wantCode: "200"},
		{sentence: "a Service without a status port is an error",
			fe: frontend.Frontend{ServicePorts: istioPorts[1:]}, wantErr: true},
		{sentence: "a status port without a nodePort yet is an error",
			fe: frontend.Frontend{ServicePorts: []frontend.ServicePort{{Name: "status-port", Port: 15021, TargetPort: intstr.FromInt32(15021)}}}, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			hc, err := ForInstanceTargets(&c.fe, c.o)
			if c.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %+v", hc)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if hc.Port != c.wantPort || hc.Path != c.wantPath || hc.Protocol != c.wantProto || hc.Matcher != c.wantCode {
				t.Fatalf("got %+v", hc)
			}
		})
	}
}
