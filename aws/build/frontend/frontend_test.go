package frontend

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestHTTPServicePort(t *testing.T) {
	ports := []ServicePort{
		{Name: "status-port", Port: 15021, TargetPort: intstr.FromInt32(15021), NodePort: 31021},
		{Name: "http2", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080},
		{Name: "alt", Port: 8081, TargetPort: intstr.FromInt32(8088), NodePort: 30081},
	}
	cases := []struct {
		sentence string
		servers  []Server
		want     string
		wantErr  bool
	}{
		{"the server on port 80 maps to the Service port 80", []Server{{Port: 80, Protocol: "HTTP"}}, "http2", false},
		{"port 80 wins over other HTTP servers", []Server{{Port: 8081, Protocol: "HTTP"}, {Port: 80, Protocol: "HTTP2"}}, "http2", false},
		{"a server port matching only a targetPort maps through it", []Server{{Port: 8088, Protocol: "HTTP"}}, "alt", false},
		{"HTTPS and TCP servers are not plain HTTP", []Server{{Port: 443, Protocol: "HTTPS"}, {Port: 31400, Protocol: "TCP"}}, "", true},
		{"a server port the Service lacks is an error", []Server{{Port: 9999, Protocol: "HTTP"}}, "", true},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			f := &Frontend{ServicePorts: ports, Servers: c.servers}
			got, err := f.HTTPServicePort()
			if c.wantErr != (err != nil) || got.Name != c.want {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
}
