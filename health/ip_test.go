package health

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

func TestForIPTargets(t *testing.T) {
	named := []frontend.ServicePort{
		{Name: "status-port", Port: 15021, TargetPort: intstr.FromString("status-port"), NodePort: 31021},
		{Name: "http2", Port: 80, TargetPort: intstr.FromString("http"), NodePort: 30080},
	}
	containers := map[string]int32{"status-port": 15021, "http": 8080}
	cases := []struct {
		sentence  string
		fe        frontend.Frontend
		o         Overrides
		wantPort  string
		wantPath  string
		wantProto string
		wantErr   bool
	}{
		{sentence: "the probe's container port and path are used, not the status nodePort",
			fe:       frontend.Frontend{ServicePorts: istioPorts, Probe: &frontend.Probe{Path: "/healthz/ready", Port: intstr.FromInt32(15021)}},
			wantPort: "15021", wantPath: "/healthz/ready", wantProto: "HTTP"},
		{sentence: "a probe on a named port is resolved through the pods' container ports",
			fe: frontend.Frontend{ServicePorts: named, ContainerPorts: containers,
				Probe: &frontend.Probe{Path: "/ready", Port: intstr.FromString("status-port")}},
			wantPort: "15021", wantPath: "/ready", wantProto: "HTTP"},
		{sentence: "without a probe the status Service port's targetPort is used",
			fe:       frontend.Frontend{ServicePorts: istioPorts},
			wantPort: "15021", wantPath: DefaultPath, wantProto: "HTTP"},
		{sentence: "without a probe a named targetPort of the status port is resolved",
			fe:       frontend.Frontend{ServicePorts: named, ContainerPorts: containers},
			wantPort: "15021", wantPath: DefaultPath, wantProto: "HTTP"},
		{sentence: "a status port targeting a port on another number than the Service's is followed",
			fe:       frontend.Frontend{ServicePorts: []frontend.ServicePort{{Name: "status-port", Port: 15021, TargetPort: intstr.FromInt32(15020)}}},
			wantPort: "15020", wantPath: DefaultPath, wantProto: "HTTP"},
		{sentence: "an HTTPS probe gives an HTTPS health check",
			fe:       frontend.Frontend{ServicePorts: istioPorts, Probe: &frontend.Probe{Path: "/r", Port: intstr.FromInt32(15021), Scheme: "HTTPS"}},
			wantPort: "15021", wantPath: "/r", wantProto: "HTTPS"},
		{sentence: "a port override wins, and needs no status port",
			fe:       frontend.Frontend{ServicePorts: istioPorts[1:]},
			o:        Overrides{Port: ptr("traffic-port"), Path: ptr("/x")},
			wantPort: "traffic-port", wantPath: "/x", wantProto: "HTTP"},
		{sentence: "a named status port no container port has is an error",
			fe: frontend.Frontend{ServicePorts: named, ContainerPorts: map[string]int32{"http": 8080}}, wantErr: true},
		{sentence: "no probe and no status port is an error",
			fe: frontend.Frontend{ServicePorts: istioPorts[1:]}, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			hc, err := ForIPTargets(&c.fe, c.o)
			if c.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %+v", hc)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if hc.Port != c.wantPort || hc.Path != c.wantPath || hc.Protocol != c.wantProto || hc.Matcher != DefaultSuccessCode {
				t.Fatalf("got %+v", hc)
			}
		})
	}
}
