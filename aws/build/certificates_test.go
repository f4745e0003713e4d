package build

import (
	"slices"
	"testing"
	"time"

	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
)

func TestCovers(t *testing.T) {
	for _, c := range []struct {
		name, host string
		want       bool
	}{
		{"a.example.com", "a.example.com", true},
		{"A.Example.com", "a.example.COM", true},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "*.example.com", true},
		{"a.example.com", "*.example.com", false},
		{"*.b.example.com", "a.b.example.com", true},
		{"b.example.com", "a.b.example.com", false},
	} {
		if got := Covers(c.name, c.host); got != c.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", c.name, c.host, got, c.want)
		}
	}
}

func TestSelect(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	year := now.AddDate(1, 0, 0)
	cert := func(arn, status string, notAfter time.Time, names ...string) model.Certificate {
		return model.Certificate{ARN: arn, Names: names, Status: status, NotAfter: notAfter}
	}
	wild := cert("wild", model.CertificateIssued, year, "*.example.com")
	exact := cert("exact", model.CertificateIssued, year, "a.example.com")
	for _, c := range []struct {
		name      string
		hosts     []string
		certs     []model.Certificate
		want      []string
		uncovered []string
		byHost    map[string]string
	}{
		{name: "wildcard covers one label", hosts: []string{"a.example.com"}, certs: []model.Certificate{wild}, want: []string{"wild"}},
		{name: "exact beats wildcard", hosts: []string{"a.example.com"}, certs: []model.Certificate{wild, exact}, want: []string{"exact"}},
		{name: "two labels deep is not covered", hosts: []string{"a.b.example.com"}, certs: []model.Certificate{wild}, uncovered: []string{"a.b.example.com"}},
		{name: "apex is not covered by wildcard", hosts: []string{"example.com"}, certs: []model.Certificate{wild}, uncovered: []string{"example.com"}},
		{name: "pending and expired are ignored", hosts: []string{"a.example.com", "b.example.com"},
			certs: []model.Certificate{
				cert("pending", model.CertificatePending, year, "a.example.com"),
				cert("expired", "EXPIRED", now.AddDate(0, 0, -1), "b.example.com"),
				cert("past", model.CertificateIssued, now.AddDate(0, 0, -1), "b.example.com"),
			},
			uncovered: []string{"a.example.com", "b.example.com"}},
		{name: "two hosts need two certificates: default then SNI", hosts: []string{"a.example.com", "b.example.org", "c.example.org"},
			certs:  []model.Certificate{wild, cert("org", model.CertificateIssued, year, "*.example.org")},
			want:   []string{"org", "wild"},
			byHost: map[string]string{"a.example.com": "wild", "b.example.org": "org", "c.example.org": "org"}},
		{name: "one multi-name certificate beats two single ones", hosts: []string{"a.example.com", "b.example.com"},
			certs: []model.Certificate{cert("x", model.CertificateIssued, year, "a.example.com"), cert("y", model.CertificateIssued, year, "b.example.com"), cert("both", model.CertificateIssued, year, "a.example.com", "b.example.com")},
			want:  []string{"both"}},
		{name: "the longest valid wins among equals (rotation)", hosts: []string{"a.example.com"},
			certs: []model.Certificate{cert("old", model.CertificateIssued, year, "*.example.com"), cert("new", model.CertificateIssued, year.AddDate(1, 0, 0), "*.example.com")},
			want:  []string{"new"}},
		{name: "no hosts, no certificates", certs: []model.Certificate{wild}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Select(c.hosts, c.certs, now)
			if !slices.Equal(got.ARNs, c.want) {
				t.Errorf("ARNs = %v, want %v", got.ARNs, c.want)
			}
			if !slices.Equal(got.Uncovered, c.uncovered) {
				t.Errorf("Uncovered = %v, want %v", got.Uncovered, c.uncovered)
			}
			for h, arn := range c.byHost {
				if got.ByHost[h] != arn {
					t.Errorf("ByHost[%s] = %s, want %s", h, got.ByHost[h], arn)
				}
			}
		})
	}
}
