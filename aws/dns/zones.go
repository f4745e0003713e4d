// Package dns keeps a gateway's Route53 records: the hosted zones of the account (cached), the
// ACM validation records of requested certificates, and the alias records of the gateway's hosts.
package dns

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"sigs.k8s.io/external-dns/provider"
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
	// IDs are the only zones records may be written in (external-dns's --zone-id-filter); empty
	// means every zone of the account.
	IDs []string

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
		filter := provider.NewZoneIDFilter(z.IDs)
		for _, hz := range page.HostedZones {
			if !filter.Match(aws.ToString(hz.Id)) {
				continue
			}
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

// changeComment marks the operator's ChangeResourceRecordSets calls.
const changeComment = "istio-alb-operator"
