package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// Status documents as the nodes of a lab with a twin and a witness send
// them: the leader holds a valid lease and ships to lux-1, site-b follows,
// the twin withholds a promotion (an alarm), the witness grants.
const (
	leaderFailoverJSON = `{"name":"site-a","role":"site","region":"monaco","version":"dev","uptime":"1m",
 "cell":{"raft_state":"Leader","leader":"site-a","term":3,"commit_index":120,"applied_index":120,"wal_last_index":100,"wal_last_hash":"0011",
  "ship":{"twin":"lux-1","active":true,"connected":true,"ack_known":true,"acked_index":90,"lag_records":10,"lag_bytes":20480,"lag_seconds":1.5}},
 "failover":{"epoch":1,"primary_region":"monaco","lease_valid":true,"lease_expires_in_ms":1800,"fenced":false,"mode":"cell"}}`
	followerFailoverJSON = `{"name":"site-b","role":"site","region":"monaco","version":"dev","uptime":"1m",
 "cell":{"raft_state":"Follower","leader":"site-a","term":3,"ship":{"twin":"lux-1","active":false}},
 "failover":{"epoch":1,"primary_region":"monaco","lease_valid":false,"fenced":false,"mode":"cell"}}`
	twinFailoverJSON = `{"name":"lux-1","role":"twin","region":"luxembourg","version":"dev","uptime":"1m",
 "twin":{"name":"lux-1","primary_region":"monaco","epoch":1,"wal_last_index":90},
 "failover":{"epoch":1,"primary_region":"monaco","lease_valid":false,"fenced":false,"mode":"twin","heard_ago_ms":3500,
  "promotion":"ALARM: primary lost but automatic promotion withheld: last known lag 200000 records exceeds max_loss_records 100000"}}`
	witnessFailoverJSON = `{"name":"witness-1","role":"witness","region":"witness","version":"dev","uptime":"1m",
 "failover":{"epoch":2,"primary_region":"luxembourg","primary_node":"lux-1","lease_valid":false,"fenced":false,"heard_ago_ms":120,"lease_left_ms":1700,"mode":"witness"}}`
)

// runOut runs a command line and returns what it printed.
func runOut(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// noBackend refuses every key-value request (the test servers only
// answer status and promote).
type noBackend struct{}

var errNoBackend = errors.New("test server: no key-value backend")

func (noBackend) Put(context.Context, string, string, []byte, replicator.Durability) (replicator.Result, error) {
	return replicator.Result{}, errNoBackend
}
func (noBackend) Delete(context.Context, string, string, replicator.Durability) (replicator.Result, error) {
	return replicator.Result{}, errNoBackend
}
func (noBackend) Get(context.Context, string, string, replicator.Consistency) ([]byte, error) {
	return nil, errNoBackend
}
func (noBackend) List(context.Context, string, replicator.ListQuery, replicator.Consistency, func(replicator.KV) error) (replicator.ListPage, error) {
	return replicator.ListPage{}, errNoBackend
}

// promoteFunc is what the fake twin's promote route does.
type promoteFunc func(ctx context.Context, force bool) (any, error)

// fakeLabT prepares a lab with a twin and a witness (no processes) and
// serves each node's API in-process with the node's own certificate: GET
// /v1/status answers docs[name], POST /v1/failover/promote calls promote
// on the twin only. It returns the lab directory.
func fakeLabT(tb testing.TB, docs map[string]string, promote promoteFunc) string {
	tb.Helper()
	return fakeLabWithT(tb, docs, func(n *lab.Node, cfg *api.Config) {
		if n.Role == string(pki.RoleTwin) {
			cfg.Promote = promote
		}
	})
}

// fakeLabWithT is fakeLabT with each node's API configured by setup.
func fakeLabWithT(tb testing.TB, docs map[string]string, setup func(n *lab.Node, cfg *api.Config)) string {
	tb.Helper()
	dir := tb.TempDir()
	l, err := lab.Prepare(lab.Options{Dir: dir, Binary: "jumeau", Sites: 2, Twin: true, Witness: true})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range l.Nodes {
		n := &l.Nodes[i]
		pkiDir := filepath.Join(dir, "pki")
		mat, err := pki.LoadTLS(pki.TLSFiles{CA: filepath.Join(pkiDir, "ca.crt"), Cert: filepath.Join(pkiDir, n.Name+".crt"), Key: filepath.Join(pkiDir, n.Name+".key")})
		if err != nil {
			tb.Fatal(err)
		}
		doc := json.RawMessage(docs[n.Name])
		cfg := api.Config{Listen: "127.0.0.1:0", TLS: mat, Backend: noBackend{}, Status: func() any { return doc }}
		setup(n, &cfg)
		srv, err := api.Listen(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Close(ctx)
		})
		n.API = srv.Addr()
	}
	writeLabJSON(tb, l)
	return dir
}

// writeLabJSON writes l as DIR/lab.json, as lab up does.
func writeLabJSON(tb testing.TB, l *lab.Lab) {
	tb.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.Dir, "lab.json"), b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func labDocs() map[string]string {
	return map[string]string{"site-a": leaderFailoverJSON, "site-b": followerFailoverJSON, lab.TwinName: twinFailoverJSON, lab.WitnessName: witnessFailoverJSON}
}

func TestFailoverStatus_JSON(t *testing.T) {
	dir := fakeLabT(t, labDocs(), nil)
	out, err := runOut(t, "failover", "status", "--lab", dir, "--json")
	if err != nil {
		t.Fatalf("failover status --json: %v\n%s", err, out)
	}
	var rows []failoverRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	byName := map[string]failoverRow{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	if got, want := len(rows), 4; got != want {
		t.Fatalf("rows: got %d, want %d (every lab node): %s", got, want, out)
	}
	leader := byName["site-a"]
	if f := leader.Failover; f == nil || !f.LeaseValid || f.LeaseExpiresInMS != 1800 || f.Epoch != 1 {
		t.Errorf("site-a failover: got %+v, want epoch 1, lease valid, expires in 1800 ms", f)
	}
	if l := leader.TwinLag; l == nil || l.Records != 10 || l.Seconds != 1.5 || l.Twin != lab.TwinName {
		t.Errorf("site-a twin lag: got %+v, want 10 records, 1.5 s to %s", l, lab.TwinName)
	}
	if byName["site-b"].TwinLag != nil {
		t.Errorf("site-b twin lag: got %+v, want none (only the leader ships)", byName["site-b"].TwinLag)
	}
	w := byName[lab.WitnessName]
	if w.Role != "witness" || w.Failover == nil || w.Failover.Epoch != 2 || w.Failover.PrimaryNode != "lux-1" || w.Failover.LeaseLeftMS != 1700 || w.Failover.HeardAgoMS != 120 {
		t.Errorf("witness row: got %+v (failover %+v), want epoch 2, primary lux-1, granted 1700 ms left, heard 120 ms ago", w, w.Failover)
	}
	if tw := byName[lab.TwinName]; tw.Failover == nil || !strings.HasPrefix(tw.Failover.Promotion, "ALARM") {
		t.Errorf("twin row: got %+v, want its promotion alarm", tw.Failover)
	}
}

func TestFailoverStatus_Table(t *testing.T) {
	dir := fakeLabT(t, labDocs(), nil)
	out, err := runOut(t, "failover", "status", "--lab", dir)
	if err != nil {
		t.Fatalf("failover status: %v\n%s", err, out)
	}
	lines := map[string][]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = f
		}
	}
	for name, want := range map[string]string{
		"site-a":        "site-a site cell monaco 1 monaco valid, expires in 1.8s - no 10 rec, 1.500s -",
		"site-b":        "site-b site cell monaco 1 monaco - - no - -",
		lab.TwinName:    "lux-1 twin twin luxembourg 1 monaco none granted 3.5s ago no - see below",
		lab.WitnessName: "witness-1 witness witness witness 2 luxembourg/lux-1 granted, 1.7s left 120ms ago - - -",
	} {
		if got := strings.Join(lines[name], " "); got != want {
			t.Errorf("%s line: got %q, want %q\n%s", name, got, want, out)
		}
	}
	for _, want := range []string{
		"promotion lux-1: ALARM: primary lost but automatic promotion withheld: last known lag 200000 records exceeds max_loss_records 100000\n",
		"epoch 2: primary luxembourg/lux-1\n",
		"  behind: site-a (epoch 1), site-b (epoch 1), lux-1 (epoch 1)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestFailoverStatus_NoFailoverSection(t *testing.T) {
	docs := labDocs()
	// A node of a version before failover, and one that is down.
	docs["site-b"] = `{"name":"site-b","role":"site","region":"monaco","cell":{"raft_state":"Follower"}}`
	dir := fakeLabT(t, docs, nil)
	l, err := lab.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.Node(lab.WitnessName)
	if err != nil {
		t.Fatal(err)
	}
	n.API = "127.0.0.1:1" // nothing listens there
	writeLabJSON(t, l)
	out, err := runOut(t, "failover", "status", "--lab", dir, "--timeout", "2s")
	if got, want := exitCode(err), exitFailure; got != want {
		t.Fatalf("exit status: got %d (%v), want %d: a node did not answer\n%s", got, err, want, out)
	}
	for _, want := range []string{"(no failover section: an older version)", "witness-1  unreachable: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestFailoverPromote_Lab(t *testing.T) {
	var mu sync.Mutex
	var calls []bool
	promote := func(_ context.Context, force bool) (any, error) {
		mu.Lock()
		calls = append(calls, force)
		mu.Unlock()
		return promoteResult{Promoted: true, Epoch: 2}, nil
	}
	dir := fakeLabT(t, labDocs(), promote)
	out, err := runOut(t, "failover", "promote", "--lab", dir, "--force")
	if err != nil {
		t.Fatalf("failover promote: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(out), `{"promoted":true,"epoch":2}`; got != want {
		t.Errorf("output: got %s, want %s", got, want)
	}
	out, err = runOut(t, "failover", "promote", "--lab", dir)
	if err != nil {
		t.Fatalf("failover promote without --force: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := fmt.Sprint(calls), "[true false]"; got != want {
		t.Errorf("force sent to the twin: got %s, want %s", got, want)
	}
}

func TestFailoverPromote_Refused(t *testing.T) {
	cases := []struct {
		name    string
		promote promoteFunc
		args    []string
		want    string
		code    exitStatus // exitError code; 0: the default failure
	}{
		{"witness says too early", func(context.Context, bool) (any, error) {
			return nil, fmt.Errorf("%w: witness: the witness still sees the primary", failover.ErrRefused)
		}, nil, "the witness still sees the primary", exitFailure},
		{"answered not promoted", func(context.Context, bool) (any, error) {
			return promoteResult{Epoch: 1, Reason: "loss above the bound"}, nil
		}, nil, "not promoted: loss above the bound", 1},
		{"a site cannot be promoted", nil, []string{"--node", "site-a"}, "send the request to the twin", 0},
		{"unknown node", nil, []string{"--node", "site-z"}, "unknown node", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := fakeLabT(t, labDocs(), tc.promote)
			out, err := runOut(t, append([]string{"failover", "promote", "--lab", dir}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q\n%s", err, tc.want, out)
			}
			var ee *exitError
			if got := errors.As(err, &ee); got != (tc.code != 0) || (got && ee.code != tc.code) {
				t.Errorf("exit error: got %v, want code %d", err, tc.code)
			}
		})
	}
}

func TestFailoverPromote_NeedsAdmin(t *testing.T) {
	dir := fakeLabT(t, labDocs(), func(context.Context, bool) (any, error) {
		return nil, errors.New("test: must not be called without admin credentials")
	})
	l, err := lab.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	twin, _ := l.Twin()
	c := l.ClientCreds
	_, err = runOut(t, "failover", "promote", "--endpoint", twin.API, "--ca", c.CA, "--cert", c.Cert, "--key", c.Key)
	if err == nil || !strings.Contains(err.Error(), "admin certificate") {
		t.Fatalf("promote with client credentials: got %v, want an error asking for an admin certificate", err)
	}
	a := l.AdminCreds
	if _, err := runOut(t, "failover", "promote", "--endpoint", twin.API, "--ca", a.CA, "--cert", a.Cert, "--key", a.Key); err == nil || !strings.Contains(err.Error(), "must not be called") {
		t.Fatalf("promote with admin credentials: got %v, want the twin's answer", err)
	}
}

func TestFailoverPromote_LabWithoutTwin(t *testing.T) {
	l, err := lab.Prepare(lab.Options{Dir: t.TempDir(), Binary: "jumeau", Sites: 1, Witness: true})
	if err != nil {
		t.Fatal(err)
	}
	writeLabJSON(t, l)
	_, err = runOut(t, "failover", "promote", "--lab", l.Dir)
	if err == nil || !strings.Contains(err.Error(), "no twin") {
		t.Fatalf("got %v, want an error saying the lab has no twin", err)
	}
}

func TestPrintStatus_Witness(t *testing.T) {
	rows := []nodeStatus{decodeStatusT(t, leaderFailoverJSON), decodeStatusT(t, twinFailoverJSON), decodeStatusT(t, witnessFailoverJSON)}
	var b strings.Builder
	printStatus(&b, rows, time.Date(2025, 1, 1, 0, 0, 2, 0, time.UTC))
	out := b.String()
	var witnessLine string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, lab.WitnessName+" ") {
			witnessLine = l
		}
	}
	if got, want := strings.Join(strings.Fields(witnessLine), " "), "witness-1 witness witness - - - - - - -"; got != want {
		t.Errorf("witness table line: got %q, want %q", got, want)
	}
	for _, want := range []string{
		"failover site-a: epoch 1, primary monaco; lease valid, expires in 1.8s\n",
		"failover lux-1: epoch 1, primary monaco; lease none granted; primary heard 3.5s ago; promotion: ALARM: primary lost",
		"failover witness-1: epoch 2, primary luxembourg/lux-1; lease granted, 1.7s left; primary heard 120ms ago\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	// --json keeps the failover sections as the nodes sent them.
	js, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"failover":{"epoch":2,"primary_region":"luxembourg","primary_node":"lux-1"`, `"lease_left_ms":1700`, `"lease_expires_in_ms":1800`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("status --json: got %s, want it to contain %s", js, want)
		}
	}
}

func TestDescribeFailover_Fenced(t *testing.T) {
	f := &failoverDoc{Epoch: 2, PrimaryRegion: "luxembourg", PrimaryNode: "lux-1", Fenced: true}
	got := describeFailover("site", "Leader", f)
	want := "epoch 2, primary luxembourg/lux-1; lease not held; FENCED: another region is primary, this node takes no writes"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLabFault_WitnessLinksNeedAWitness(t *testing.T) {
	l, err := lab.Prepare(lab.Options{Dir: t.TempDir(), Binary: "jumeau", Sites: 2, Twin: true})
	if err != nil {
		t.Fatal(err)
	}
	writeLabJSON(t, l)
	_, err = runOut(t, "lab", "fault", "--dir", l.Dir, "--witness", "--delay", "1ms")
	if err == nil || !strings.Contains(err.Error(), "has no witness") {
		t.Fatalf("got %v, want an error saying the lab has no witness", err)
	}
}
