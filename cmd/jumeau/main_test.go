package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string // substring of the error; "" = success
	}{
		{"version", []string{"version"}, ""},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"get without target", []string{"get", "ns", "k"}, "--endpoint"},
		{"endpoint without credentials", []string{"get", "--endpoint", "127.0.0.1:1", "ns", "k"}, "--ca, --cert and --key"},
		{"lab and endpoint", []string{"get", "--lab", "x", "--endpoint", "127.0.0.1:1", "ns", "k"}, "either --lab or --endpoint"},
		{"serve without config", []string{"serve"}, "--config"},
		{"lab without lab.json", []string{"status", "--lab", t.TempDir()}, "lab up"},
		{"bad role", []string{"certs", "issue", "--dir", t.TempDir(), "--role", "king", "--region", "monaco", "--name", "x"}, "role"},
		{"put value twice", []string{"put", "--file", "f", "ns", "k", "v"}, "not both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestRun_CertsInitRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	if err := run(context.Background(), []string{"certs", "init", "--dir", dir}); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"certs", "init", "--dir", dir})
	if err == nil {
		t.Fatal("got nil, want an error refusing to overwrite the CA")
	}
	var ee *exitError
	if errors.As(err, &ee) {
		t.Fatalf("got exit code %d, want the default failure", ee.code)
	}
}

func TestRun_TwinFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"put bad durability", []string{"put", "--lab", t.TempDir(), "--durability", "never", "ns", "k", "v"}, "--durability"},
		{"del bad durability", []string{"del", "--lab", t.TempDir(), "--durability", "quorum", "ns", "k"}, "use cell or twin"},
		{"bench bad durability", []string{"bench", "--lab", t.TempDir(), "--durability", "disk"}, "--durability"},
		{"wan without twin", []string{"lab", "up", "--dir", t.TempDir(), "--wan-loss", "0.01"}, "add --twin"},
		{"wan loss over 1", []string{"lab", "up", "--dir", t.TempDir(), "--twin", "--wan-loss", "2"}, "loss"},
		{"zero wan rtt", []string{"lab", "up", "--dir", t.TempDir(), "--twin", "--wan-rtt", "0s"}, "--wan-rtt"},
		{"fault link and wan", []string{"lab", "fault", "--dir", t.TempDir(), "--wan", "--link", "site-a->lux-1", "--delay", "1ms"}, "not several"},
		{"fault wan and witness", []string{"lab", "fault", "--dir", t.TempDir(), "--wan", "--witness", "--delay", "1ms"}, "not several"},
		{"fault witness without lab", []string{"lab", "fault", "--dir", t.TempDir(), "--witness", "--delay", "1ms"}, "lab up"},
		{"failover status without lab", []string{"failover", "status", "--lab", t.TempDir()}, "lab up"},
		{"failover status without target", []string{"failover", "status"}, "--endpoint"},
		{"promote two endpoints", []string{"failover", "promote", "--endpoint", "127.0.0.1:1,127.0.0.1:2"}, "single --endpoint"},
		{"promote lab and endpoint", []string{"failover", "promote", "--lab", "x", "--endpoint", "127.0.0.1:1"}, "not both"},
		{"promote without lab", []string{"failover", "promote", "--lab", t.TempDir()}, "lab up"},
		{"fault wan without lab", []string{"lab", "fault", "--dir", t.TempDir(), "--wan", "--delay", "1ms"}, "lab up"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// siteStatusJSON and twinStatusJSON are status documents as a cell leader
// shipping to lux-1 and the twin send them.
const siteStatusJSON = `{"name":"site-a","role":"site","region":"monaco","version":"dev","uptime":"1m",
 "cell":{"name":"site-a","raft_state":"Leader","leader":"site-a","term":3,"commit_index":120,"applied_index":120,
  "wal_last_index":100,"wal_last_hash":"00112233445566778899","epoch":1,"peers":["site-a","site-b"],
  "ship":{"twin":"lux-1","active":true,"connected":true,"ack_known":true,"acked_index":90,"sent_index":98,"last_index":100,
   "lag_records":10,"lag_bytes":20480,"lag_seconds":1,"rpo_seconds":5,"rpo_guard":"block","rpo_budget_used":0.2,
   "acked_bytes":1000,"snapshots_sent":0,"last_error":"stream reset","diverged":"twin hash differs at 50"}}}`

const twinStatusJSON = `{"name":"lux-1","role":"twin","region":"luxembourg","version":"dev","uptime":"1m",
 "twin":{"name":"lux-1","primary_region":"monaco","epoch":1,"connected":true,"sender":"site-a","wal_first_index":1,
  "wal_last_index":90,"wal_last_hash":"aabbccddeeff00112233","primary_last_index":100,"lag_records":10,
  "last_received":"2025-01-01T00:00:00Z","received_bytes":2500000,"snapshots_restored":0,"refused":2,
  "alarm":"forged record at 91: chain hash mismatch","alarm_time":"2025-01-01T00:00:01Z"}}`

func decodeStatusT(tb testing.TB, doc string) nodeStatus {
	tb.Helper()
	var st statusDoc
	if err := json.Unmarshal([]byte(doc), &st); err != nil {
		tb.Fatal(err)
	}
	return st.row()
}

func TestStatusDoc_Row(t *testing.T) {
	site := decodeStatusT(t, siteStatusJSON)
	if site.RaftState != "Leader" || site.WALLast != 100 || site.Ship == nil || site.Ship.AckedIndex != 90 || site.Twin != nil {
		t.Errorf("site row: got %+v, want the leader at WAL 100 with its ship section (acked 90)", site)
	}
	twin := decodeStatusT(t, twinStatusJSON)
	if twin.Role != "twin" || twin.RaftState != "" || twin.WALLast != 90 || twin.WALHash != "aabbccddeeff00112233" || twin.Twin == nil || twin.Ship != nil {
		t.Errorf("twin row: got %+v, want no Raft state, WAL 90 from its twin section", twin)
	}
	// --json keeps the sections as the nodes sent them.
	b, err := json.Marshal([]nodeStatus{site, twin})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"ship":{"twin":"lux-1"`, `"diverged":"twin hash differs at 50"`, `"received_bytes":2500000`, `"refused":2`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("status --json: got %s, want it to contain %s", b, want)
		}
	}
}

func TestPrintStatus(t *testing.T) {
	follower := decodeStatusT(t, strings.NewReplacer(`"site-a","role"`, `"site-b","role"`, `"Leader"`, `"Follower"`, `"active":true`, `"active":false`).Replace(siteStatusJSON))
	rows := []nodeStatus{decodeStatusT(t, siteStatusJSON), follower, decodeStatusT(t, twinStatusJSON), {Name: "site-c", Error: "connection refused"}}
	var b strings.Builder
	printStatus(&b, rows, time.Date(2025, 1, 1, 0, 0, 2, 0, time.UTC))
	out := b.String()
	for _, want := range []string{
		"ship site-a -> lux-1: connected, acked 90, sent 98, last 100; lag 10 records, 20.5 kB, 1.000s; RPO budget 20% used of 5s (guard block)",
		"  last error: stream reset",
		"  DIVERGED (shipping stopped until an operator reconciles): twin hash differs at 50",
		"twin lux-1 (epoch 1, accepts monaco): sender site-a, connected; WAL 1..90 aabbccddeeff, primary last 100, lag 10 records; received 2.50 MB, last 2s ago; refused 2",
		"  ALARM (2025-01-01T00:00:01Z): forged record at 91: chain hash mismatch",
		"site-c  unreachable: connection refused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	if got := strings.Count(out, "ship "); got != 1 {
		t.Errorf("ship lines: got %d, want 1 (only the leader ships):\n%s", got, out)
	}
	var twinLine string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "lux-1 ") {
			twinLine = l
		}
	}
	if f := strings.Fields(twinLine); len(f) != 10 || f[3] != "-" || f[8] != "90" || f[9] != "aabbccddeeff" {
		t.Errorf("twin table line: got %q, want role twin, no Raft fields, WAL 90", twinLine)
	}
}

func TestTwinFigures(t *testing.T) {
	t.Run("samples", func(t *testing.T) {
		res := benchResult{Seconds: 2}
		lags := make([]float64, 100)
		for i := range lags {
			lags[i] = float64(100 - i) // unsorted: 100 down to 1
		}
		twinFigures(&res, lags, 1_000_000, 5_000_000, true)
		if res.TwinLagP50ms == nil || *res.TwinLagP50ms != 50 || *res.TwinLagP99ms != 99 || res.TwinLagSamples != 100 {
			t.Fatalf("lag: got p50 %v p99 %v n %d, want 50, 99, 100", res.TwinLagP50ms, res.TwinLagP99ms, res.TwinLagSamples)
		}
		if res.TwinMBPerSec == nil || *res.TwinMBPerSec != 2 {
			t.Fatalf("twin MB/s: got %v, want 2 (4 MB in 2 s)", res.TwinMBPerSec)
		}
	})
	t.Run("twin restarted", func(t *testing.T) {
		res := benchResult{Seconds: 2}
		twinFigures(&res, []float64{3}, 5_000_000, 1_000, true)
		if res.TwinLagP50ms == nil || res.TwinMBPerSec != nil {
			t.Fatalf("got lag %v, MB/s %v; want a lag and no MB/s", res.TwinLagP50ms, res.TwinMBPerSec)
		}
	})
	t.Run("no ship section", func(t *testing.T) {
		res := benchResult{Seconds: 2}
		twinFigures(&res, nil, 0, 5_000_000, true)
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "twin_") {
			t.Fatalf("got %s, want no twin_ fields", b)
		}
	})
}
