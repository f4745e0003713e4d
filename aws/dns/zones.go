// Package dns keeps a gateway's Route53 records: the hosted zones of the account (cached), the
// ACM validation records of requested certificates, and the alias records of the gateway's hosts.
package dns

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
)

// API is the subset of the Route53 client the operator uses; *route53.Client satisfies it.
type API interface {
	ListHostedZones(context.Context, *route53.ListHostedZonesInput, ...func(*route53.Options)) (*route53.ListHostedZonesOutput, error)
	ChangeResourceRecordSets(context.Context, *route53.ChangeResourceRecordSetsInput, ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error)
	ListResourceRecordSets(context.Context, *route53.ListResourceRecordSetsInput, ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error)
	ListHostedZonesByVPC(context.Context, *route53.ListHostedZonesByVPCInput, ...func(*route53.Options)) (*route53.ListHostedZonesByVPCOutput, error)
}

var _ API = (*route53.Client)(nil)

// Zone is a hosted zone.
type Zone struct {
	ID      string // without the /hostedzone/ prefix
	Name    string // without the trailing dot
	Private bool
}

// Zones lists the account's hosted zones at most once per TTL (Route53 allows five requests a
// second per account, shared by every gateway).
type Zones struct {
	API API
	TTL time.Duration

	mu       sync.Mutex
	listedAt time.Time
	zones    []Zone
	byVPC    map[string]vpcZones
}

type vpcZones struct {
	ids []string
	at  time.Time
}

// PrivateTo returns the ids of the private zones associated with the VPC (cached for TTL).
func (z *Zones) PrivateTo(ctx context.Context, vpcID, region string) ([]string, error) {
	z.mu.Lock()
	v, ok := z.byVPC[vpcID]
	z.mu.Unlock()
	if ok && time.Since(v.at) < z.TTL {
		return v.ids, nil
	}
	var ids []string
	in := &route53.ListHostedZonesByVPCInput{VPCId: aws.String(vpcID), VPCRegion: r53types.VPCRegion(region)}
	for {
		out, err := z.API.ListHostedZonesByVPC(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("ListHostedZonesByVPC %s: %w", vpcID, err)
		}
		for _, s := range out.HostedZoneSummaries {
			ids = append(ids, strings.TrimPrefix(aws.ToString(s.HostedZoneId), "/hostedzone/"))
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.byVPC == nil {
		z.byVPC = map[string]vpcZones{}
	}
	z.byVPC[vpcID] = vpcZones{ids: ids, at: time.Now()}
	return ids, nil
}

// List returns the hosted zones.
func (z *Zones) List(ctx context.Context) ([]Zone, error) {
	z.mu.Lock()
	if !z.listedAt.IsZero() && time.Since(z.listedAt) < z.TTL {
		defer z.mu.Unlock()
		return z.zones, nil
	}
	z.mu.Unlock()
	var out []Zone
	p := route53.NewListHostedZonesPaginator(z.API, &route53.ListHostedZonesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ListHostedZones: %w", err)
		}
		for _, hz := range page.HostedZones {
			out = append(out, Zone{
				ID:      strings.TrimPrefix(aws.ToString(hz.Id), "/hostedzone/"),
				Name:    strings.TrimSuffix(strings.ToLower(aws.ToString(hz.Name)), "."),
				Private: hz.Config != nil && hz.Config.PrivateZone,
			})
		}
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	z.zones, z.listedAt = out, time.Now()
	return out, nil
}

// ZoneFor returns the zone with the longest name that is a suffix of name (on label
// boundaries), among zones of the given visibility.
func ZoneFor(zones []Zone, name string, private bool) (Zone, bool) {
	return zoneOf(slices.DeleteFunc(slices.Clone(zones), func(z Zone) bool { return z.Private != private }), name)
}

const changeComment = "istio-alb-operator"

// Upsert writes records into the public zones that own them, one ChangeResourceRecordSets call
// per zone. It returns the names no public zone owns.
func (z *Zones) Upsert(ctx context.Context, records []model.Record, ttl int64) (unowned []string, err error) {
	zones, err := z.List(ctx)
	if err != nil {
		return nil, err
	}
	byZone := map[string][]r53types.Change{}
	for _, r := range records {
		zone, ok := ZoneFor(zones, r.Name, false)
		if !ok {
			unowned = append(unowned, r.Name)
			continue
		}
		byZone[zone.ID] = append(byZone[zone.ID], r53types.Change{
			Action: r53types.ChangeActionUpsert,
			ResourceRecordSet: &r53types.ResourceRecordSet{
				Name: aws.String(r.Name), Type: r53types.RRType(r.Type), TTL: aws.Int64(ttl),
				ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(r.Value)}},
			},
		})
	}
	for _, id := range slices.Sorted(maps.Keys(byZone)) {
		if _, err := z.API.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
			HostedZoneId: aws.String(id),
			ChangeBatch:  &r53types.ChangeBatch{Comment: aws.String(changeComment), Changes: byZone[id]},
		}); err != nil {
			return unowned, fmt.Errorf("ChangeResourceRecordSets %s: %w", id, err)
		}
	}
	return unowned, nil
}
