package frontend

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestBackendTargetIsTheFirstServerNoRequestLoopsOnOrIsResetBy(t *testing.T) {
	ports := []ServicePort{
		{Name: "status-port", Port: 15021, TargetPort: intstr.FromInt32(15021), NodePort: 31021},
		{Name: "http2", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080},
		{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443), NodePort: 30443},
	}
	http := Server{Port: 80, Protocol: "HTTP", Hosts: []string{"a.example.com"}}
	redirect := http
	redirect.HTTPSRedirect = true
	anyHost := Server{Port: 443, Protocol: "HTTPS", Hosts: []string{"a.example.com", "*"}, TLSMode: TLSSimple}
	sni := Server{Port: 443, Protocol: "HTTPS", Hosts: []string{"a.example.com"}, TLSMode: TLSSimple}
	cases := []struct {
		sentence string
		servers  []Server
		trusted  uint32
		want     string // Service port name and protocol, "" for an error
		servers0 int    // how many servers the target carries
	}{
		{"a plain HTTP server is the target", []Server{http, anyHost}, 0, "http2/HTTP", 1},
		{"two servers on the same port are both the target's", []Server{http, {Port: 80, Protocol: "HTTP", Hosts: []string{"b.example.com"}}}, 0, "http2/HTTP", 2},
		{"a redirecting server trusting the ALB is the target", []Server{redirect, anyHost}, 1, "http2/HTTP", 1},
		{"a redirecting server not trusting the ALB gives way to a SIMPLE server for any host", []Server{redirect, anyHost}, 0, "https/HTTPS", 1},
		{"a redirecting server not trusting the ALB stays the target when the SIMPLE server matches SNI", []Server{redirect, sni}, 0, "http2/HTTP", 1},
		{"a SIMPLE server for any host comes before one matching SNI", []Server{sni, anyHost}, 0, "https/HTTPS", 1},
		{"a SIMPLE server matching SNI is the last resort", []Server{sni}, 0, "https/HTTPS", 1},
		{"a SIMPLE server whose port the Service lacks is no target", []Server{{Port: 9443, Protocol: "HTTPS", Hosts: []string{"*"}, TLSMode: TLSSimple}}, 0, "", 0},
		{"a TLS (TCP) server with SIMPLE is not re-encrypted to", []Server{{Port: 443, Protocol: "TLS", Hosts: []string{"*"}, TLSMode: TLSSimple}}, 0, "", 0},
		{"a MUTUAL server is not re-encrypted to", []Server{{Port: 443, Protocol: "HTTPS", Hosts: []string{"*"}, TLSMode: "MUTUAL"}}, 0, "", 0},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			f := &Frontend{ServicePorts: ports, Servers: c.servers, TrustedProxies: c.trusted}
			got, err := f.BackendTarget()
			name := ""
			if err == nil {
				name = got.Port.Name + "/" + got.Protocol
			}
			if name != c.want || len(got.Servers) != c.servers0 {
				t.Fatalf("target %s with %d servers (%v), want %s with %d", name, len(got.Servers), err, c.want, c.servers0)
			}
		})
	}
}
