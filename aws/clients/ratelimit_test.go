package clients

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/smithy-go"
)

func TestRateLimitsAreReadOverTheDefaults(t *testing.T) {
	cases := []struct {
		sentence string
		in       string
		check    func(map[string]RateLimit) bool
		err      string
	}{
		{"empty keeps the defaults, Route53 below its 5 a second", "", func(m map[string]RateLimit) bool {
			return m["route53"].QPS < 5 && m["elbv2"] == DefaultRateLimits["elbv2"]
		}, ""},
		{"a service is set, the others keep their defaults", "route53=2:3", func(m map[string]RateLimit) bool {
			return m["route53"] == RateLimit{QPS: 2, Burst: 3} && m["ec2"] == DefaultRateLimits["ec2"]
		}, ""},
		{"a burst left out is the QPS rounded up", "elbv2=2.5", func(m map[string]RateLimit) bool { return m["elbv2"] == RateLimit{QPS: 2.5, Burst: 3} }, ""},
		{"an unknown service is refused", "s3=1", nil, "service one of"},
		{"a QPS that is not positive is refused", "ec2=0", nil, "positive number"},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			got, err := ParseRateLimits(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || !c.check(got) {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

func TestCallsToAServiceWaitForItsRateLimit(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<ListHostedZonesResponse><HostedZones></HostedZones><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems></ListHostedZonesResponse>`))
	}))
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	c, err := New(context.Background(), Options{Region: "us-east-1", EndpointURL: srv.URL, RateLimits: map[string]RateLimit{"route53": {QPS: 10, Burst: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 6 {
		if _, err := c.Route53.ListHostedZones(context.Background(), &route53.ListHostedZonesInput{MaxItems: aws.Int32(100)}); err != nil {
			t.Fatal(err)
		}
	}
	// One at once, then one every 100ms: the sixth call waits 500ms.
	if d := time.Since(start); d < 450*time.Millisecond || n.Load() != 6 {
		t.Fatalf("6 calls at 10 a second took %s (%d reached the endpoint)", d, n.Load())
	}
}

type notFound struct{}

func (notFound) Error() string                 { return "gone" }
func (notFound) ErrorCode() string             { return "LoadBalancerNotFound" }
func (notFound) ErrorMessage() string          { return "gone" }
func (notFound) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

func TestDescribeExistingLeavesOutWhatIsGoneInFewCalls(t *testing.T) {
	gone := map[string]bool{"b": true, "q": true}
	calls := 0
	describe := func(ids []string) ([]string, error) {
		calls++
		for _, id := range ids {
			if gone[id] {
				return nil, notFound{}
			}
		}
		return ids, nil
	}
	ids := strings.Split("a b c d e f g h i j k l m n o p q r s t u v w x y", " ")
	got, err := DescribeExisting(ids, 20, describe)
	if err != nil || len(got) != len(ids)-2 || slices.Contains(got, "b") || slices.Contains(got, "q") {
		t.Fatalf("got %v, %v", got, err)
	}
	if calls > 16 {
		t.Fatalf("%d calls for 25 ids with 2 gone", calls)
	}
}
