package wafv2

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	"github.com/aws/smithy-go"
)

// webACLAPI answers GetWebACL for the existing web ACLs, WAFNonexistentItemException for others.
type webACLAPI struct {
	fakeAWS
	exists map[string]bool
	gets   int
}

func (w *webACLAPI) GetWebACL(_ context.Context, in *wafv2.GetWebACLInput, _ ...func(*wafv2.Options)) (*wafv2.GetWebACLOutput, error) {
	w.gets++
	if !w.exists[*in.ARN] {
		return nil, &smithy.OperationError{ServiceID: "WAFV2", OperationName: "GetWebACL",
			Err: &smithy.GenericAPIError{Code: "WAFNonexistentItemException", Message: "no such web ACL"}}
	}
	return &wafv2.GetWebACLOutput{}, nil
}

func TestAWebACLIsAskedAboutOncePerTTLUnlessFresh(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	api := &webACLAPI{exists: map[string]bool{aclX: true}}
	w := &WebACLs{API: api, TTL: time.Minute, Now: func() time.Time { return now }}
	ctx := context.Background()
	for _, step := range []struct {
		sentence string
		arn      string
		fresh    bool
		advance  time.Duration
		want     bool
		gets     int
	}{
		{"the first question asks WAF", aclX, false, 0, true, 1},
		{"within the TTL the answer is reused", aclX, false, 30 * time.Second, true, 1},
		{"fresh asks again (after a rejection)", aclX, true, 0, true, 2},
		{"after the TTL WAF is asked again", aclX, false, 2 * time.Minute, true, 3},
		{"a web ACL WAF does not know does not exist", aclY, false, 0, false, 4},
		{"a missing web ACL is remembered as missing too", aclY, false, 0, false, 4},
	} {
		now = now.Add(step.advance)
		got, err := w.Exists(ctx, step.arn, step.fresh)
		if err != nil || got != step.want || api.gets != step.gets {
			t.Fatalf("%s: exists %v (err %v) after %d GetWebACL, want %v after %d", step.sentence, got, err, api.gets, step.want, step.gets)
		}
	}
}
