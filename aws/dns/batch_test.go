package dns

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// fakeRoute53 is an in-memory zone: CREATE of an existing record fails as in Route53, and a
// change naming refused is refused whole.
type fakeRoute53 struct {
	mu      sync.Mutex
	sets    map[string]r53types.ResourceRecordSet
	lists   int
	changes int
	refused string
}

func (f *fakeRoute53) ListHostedZones(context.Context, *route53.ListHostedZonesInput, ...func(*route53.Options)) (*route53.ListHostedZonesOutput, error) {
	return &route53.ListHostedZonesOutput{}, nil
}

func (f *fakeRoute53) ListHostedZonesByVPC(context.Context, *route53.ListHostedZonesByVPCInput, ...func(*route53.Options)) (*route53.ListHostedZonesByVPCOutput, error) {
	return &route53.ListHostedZonesByVPCOutput{}, nil
}

func (f *fakeRoute53) ListResourceRecordSets(context.Context, *route53.ListResourceRecordSetsInput, ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	out := &route53.ListResourceRecordSetsOutput{}
	for _, rs := range f.sets {
		out.ResourceRecordSets = append(out.ResourceRecordSets, rs)
	}
	return out, nil
}

func (f *fakeRoute53) ChangeResourceRecordSets(_ context.Context, in *route53.ChangeResourceRecordSetsInput, _ ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes++
	for _, c := range in.ChangeBatch.Changes {
		key := aws.ToString(c.ResourceRecordSet.Name) + " " + string(c.ResourceRecordSet.Type)
		if f.refused != "" && strings.Contains(key, f.refused) {
			return nil, fmt.Errorf("InvalidChangeBatch: %s refused", key)
		}
		if _, exists := f.sets[key]; exists && c.Action == r53types.ChangeActionCreate {
			return nil, fmt.Errorf("InvalidChangeBatch: %s already exists", key)
		}
	}
	for _, c := range in.ChangeBatch.Changes {
		key := aws.ToString(c.ResourceRecordSet.Name) + " " + string(c.ResourceRecordSet.Type)
		if c.Action == r53types.ChangeActionDelete {
			delete(f.sets, key)
		} else {
			f.sets[key] = *c.ResourceRecordSet
		}
	}
	return &route53.ChangeResourceRecordSetsOutput{}, nil
}

func TestGatewaysSyncingAZoneAtOnceShareOneReadAndOneChange(t *testing.T) {
	cases := []struct {
		sentence string
		names    []string // one gateway each
		refused  string
		check    func(t *testing.T, f *fakeRoute53, conflicts [][]Conflict, errs []error)
	}{
		{
			sentence: "eight gateways with their own names: one read, one change, eight names",
			names:    []string{"a", "b", "c", "d", "e", "f", "g", "h"},
			check: func(t *testing.T, f *fakeRoute53, _ [][]Conflict, errs []error) {
				for _, err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				if f.lists != 1 || f.changes != 1 || len(f.sets) != 16 {
					t.Fatalf("%d reads, %d changes, %d records", f.lists, f.changes, len(f.sets))
				}
			},
		},
		{
			sentence: "two gateways claiming one name in one batch: the second sees the first's claim",
			names:    []string{"same", "same"},
			check: func(t *testing.T, f *fakeRoute53, conflicts [][]Conflict, errs []error) {
				if errs[0] != nil || errs[1] != nil || len(f.sets) != 2 {
					t.Fatalf("errs %v, records %d", errs, len(f.sets))
				}
				if n := len(conflicts[0]) + len(conflicts[1]); n != 1 {
					t.Fatalf("want exactly one conflict, have %v", conflicts)
				}
			},
		},
		{
			sentence: "a change Route53 refuses fails only its gateway",
			names:    []string{"good", "bad", "fine"},
			refused:  "bad.example.com",
			check: func(t *testing.T, f *fakeRoute53, _ [][]Conflict, errs []error) {
				if errs[0] != nil || errs[2] != nil || errs[1] == nil {
					t.Fatalf("errs %v", errs)
				}
				if len(f.sets) != 4 {
					t.Fatalf("records %d, want the two good gateways' A and TXT", len(f.sets))
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			f := &fakeRoute53{sets: map[string]r53types.ResourceRecordSet{}, refused: c.refused}
			s := &Syncer{Zones: &Zones{API: f, TTL: time.Hour}, OwnerID: "test", Window: 100 * time.Millisecond}
			zone := Zone{ID: "Z", Name: "example.com"}
			conflicts := make([][]Conflict, len(c.names))
			errs := make([]error, len(c.names))
			var wg sync.WaitGroup
			for i, n := range c.names {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := Desired{Resource: fmt.Sprintf("%sistio/ns/gw%d", ResourcePrefix, i), Target: "alb-1.elb.amazonaws.com", TargetZoneID: "ZALB"}
					_, _, conflicts[i], errs[i] = s.syncZones(context.Background(), []Zone{zone}, []string{n + ".example.com"}, d)
				}()
			}
			wg.Wait()
			c.check(t, f, conflicts, errs)
		})
	}
}

func TestACancelledGatewayDoesNotFailTheOthersOfItsBatch(t *testing.T) {
	f := &fakeRoute53{sets: map[string]r53types.ResourceRecordSet{}}
	s := &Syncer{Zones: &Zones{API: f, TTL: time.Hour}, OwnerID: "test", Window: 100 * time.Millisecond}
	zone := Zone{ID: "Z", Name: "example.com"}
	first, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var firstErr, secondErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		d := Desired{Resource: ResourcePrefix + "istio/ns/first", Target: "alb-1.elb.amazonaws.com", TargetZoneID: "ZALB"}
		_, _, _, firstErr = s.syncZones(first, []Zone{zone}, []string{"first.example.com"}, d)
	}()
	time.Sleep(10 * time.Millisecond) // the first starts the batch, the second joins it
	go func() {
		defer wg.Done()
		d := Desired{Resource: ResourcePrefix + "istio/ns/second", Target: "alb-2.elb.amazonaws.com", TargetZoneID: "ZALB"}
		_, _, _, secondErr = s.syncZones(context.Background(), []Zone{zone}, []string{"second.example.com"}, d)
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	wg.Wait()
	if firstErr == nil || secondErr != nil {
		t.Fatalf("first (cancelled) %v, second %v", firstErr, secondErr)
	}
	if _, ok := f.sets["second.example.com. A"]; !ok {
		t.Fatalf("the second gateway's record is missing: %v", f.sets)
	}
}
