package motoserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// IAM in moto: moto_server lets every request through until told to
// check them (the INITIAL_NO_AUTH_ACTION_COUNT setting, which EnforceIAM
// sets to 0 at run time through POST /moto-api/reset-auth). From then on
// each request must be signed by an access key of an IAM user, and the
// user's policies must allow the action. moto evaluates EC2 actions
// against the resource "*" only and ignores conditions: a statement whose
// Resource names ARNs (or carries a Condition) does not match an EC2 call
// in moto, so a policy for moto grants "Resource": "*". For an EC2 action
// it denies, moto answers AccessDenied (real EC2: UnauthorizedOperation).

// IAMUser creates IAM user name with the inline policy document policy
// (JSON) and returns an access key of it. Call it before EnforceIAM.
func (s *Server) IAMUser(tb testing.TB, name, policy string) (keyID, secret string) {
	tb.Helper()
	s.iam(tb, url.Values{"Action": {"CreateUser"}, "UserName": {name}}, nil)
	s.iam(tb, url.Values{"Action": {"PutUserPolicy"}, "UserName": {name}, "PolicyName": {name + "-policy"}, "PolicyDocument": {policy}}, nil)
	var out struct {
		Key struct {
			ID     string `xml:"AccessKeyId"`
			Secret string `xml:"SecretAccessKey"`
		} `xml:"CreateAccessKeyResult>AccessKey"`
	}
	s.iam(tb, url.Values{"Action": {"CreateAccessKey"}, "UserName": {name}}, &out)
	if out.Key.ID == "" || out.Key.Secret == "" {
		tb.Fatalf("moto: CreateAccessKey %s returned no key", name)
	}
	return out.Key.ID, out.Key.Secret
}

// EnforceIAM makes moto check every later request against IAM (signature
// and policy). Requests signed with the fake credentials of Env are then
// refused: use the keys of IAMUser.
func (s *Server) EnforceIAM(tb testing.TB) {
	tb.Helper()
	resp, err := http.Post(s.Endpoint+"/moto-api/reset-auth", "text/plain", strings.NewReader("0"))
	if err != nil {
		tb.Fatalf("moto: reset-auth: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("moto: reset-auth: %s: %s", resp.Status, b)
	}
}

// iam makes one IAM query call, signed with Env's fake credentials.
func (s *Server) iam(tb testing.TB, form url.Values, out any) {
	tb.Helper()
	form.Set("Version", "2010-05-08")
	body := form.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint+"/", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing"}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "iam", "us-east-1", time.Now()); err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("moto: IAM %s: %v", form.Get("Action"), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("moto: IAM %s: %s: %s", form.Get("Action"), resp.Status, b)
	}
	if out != nil {
		if err := xml.Unmarshal(b, out); err != nil {
			tb.Fatalf("moto: IAM %s: %v: %s", form.Get("Action"), err, b)
		}
	}
}

// EC2Policy is an IAM policy document that allows actions on "*" (the
// only resource moto matches EC2 calls against).
func EC2Policy(actions ...string) string {
	q := make([]string, len(actions))
	for i, a := range actions {
		q[i] = fmt.Sprintf("%q", a)
	}
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[` + strings.Join(q, ",") + `],"Resource":"*"}]}`
}
