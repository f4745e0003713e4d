package acm

import (
	"slices"
	"testing"
	"time"
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
	cert := func(arn, status string, notAfter time.Time, names ...string) Certificate {
		return Certificate{ARN: arn, Names: names, Status: status, NotAfter: notAfter}
	}
	wild := cert("wild", StatusIssued, year, "*.example.com")
	exact := cert("exact", StatusIssued, year, "a.example.com")
	for _, c := range []struct {
		name      string
		hosts     []string
		certs     []Certificate
		want      []string
		uncovered []string
		byHost    map[string]string
	}{
		{name: "wildcard covers one label", hosts: []string{"a.example.com"}, certs: []Certificate{wild}, want: []string{"wild"}},
		{name: "exact beats wildcard", hosts: []string{"a.example.com"}, certs: []Certificate{wild, exact}, want: []string{"exact"}},
		{name: "two labels deep is not covered", hosts: []string{"a.b.example.com"}, certs: []Certificate{wild}, uncovered: []string{"a.b.example.com"}},
		{name: "apex is not covered by wildcard", hosts: []string{"example.com"}, certs: []Certificate{wild}, uncovered: []string{"example.com"}},
		{name: "pending and expired are ignored", hosts: []string{"a.example.com", "b.example.com"},
			certs: []Certificate{
				cert("pending", StatusPending, year, "a.example.com"),
				cert("expired", "EXPIRED", now.AddDate(0, 0, -1), "b.example.com"),
				cert("past", StatusIssued, now.AddDate(0, 0, -1), "b.example.com"),
			},
			uncovered: []string{"a.example.com", "b.example.com"}},
		{name: "two hosts need two certificates: default then SNI", hosts: []string{"a.example.com", "b.example.org", "c.example.org"},
			certs:  []Certificate{wild, cert("org", StatusIssued, year, "*.example.org")},
			want:   []string{"org", "wild"},
			byHost: map[string]string{"a.example.com": "wild", "b.example.org": "org", "c.example.org": "org"}},
		{name: "one multi-name certificate beats two single ones", hosts: []string{"a.example.com", "b.example.com"},
			certs: []Certificate{cert("x", StatusIssued, year, "a.example.com"), cert("y", StatusIssued, year, "b.example.com"), cert("both", StatusIssued, year, "a.example.com", "b.example.com")},
			want:  []string{"both"}},
		{name: "the longest valid wins among equals (rotation)", hosts: []string{"a.example.com"},
			certs: []Certificate{cert("old", StatusIssued, year, "*.example.com"), cert("new", StatusIssued, year.AddDate(1, 0, 0), "*.example.com")},
			want:  []string{"new"}},
		{name: "no hosts, no certificates", certs: []Certificate{wild}},
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
