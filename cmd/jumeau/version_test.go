package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionCmd_Stdout(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runIO(context.Background(), []string{"version"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if got := errOut.String(); got != "" {
		t.Errorf("stderr: got %q, want nothing (the version goes to stdout)", got)
	}
	b := currentBuild()
	for _, want := range []string{"jumeau " + b.Version, "commit: " + b.Commit, "go:     " + runtime.Version(), "built:  " + b.BuildDate} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout: got %q, want it to contain %q", out.String(), want)
		}
	}
}

func TestVersionCmd_JSON(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runIO(context.Background(), []string{"version", "--json"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var got buildInfo
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("stdout %q: %v", out.String(), err)
	}
	if want := currentBuild(); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got.GoVersion != runtime.Version() || got.Commit == "" || got.BuildDate == "" {
		t.Errorf("got %+v, want the Go version %s and a commit and build date (or %q)", got, runtime.Version(), unknownBuild)
	}
}

func TestResolveBuild(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/monaco-sovereign/jumeau", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	installed := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}}
	cases := []struct {
		name                       string
		ver, rev, date             string
		bi                         *debug.BuildInfo
		wantVer, wantRev, wantDate string
	}{
		{"ldflags win", "v1.2.3", "abc", "2026-05-06T00:00:00Z", vcs, "v1.2.3", "abc", "2026-05-06T00:00:00Z"},
		{"vcs fallback", "dev", "", "", vcs, "dev", "0123456789abcdef-dirty", "2026-01-02T03:04:05Z"},
		{"go install of a tag", "dev", "", "", installed, "v1.4.0", unknownBuild, unknownBuild},
		{"no build information", "", "", "", nil, "dev", unknownBuild, unknownBuild},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := resolveBuild(tc.ver, tc.rev, tc.date, tc.bi)
			if got.Version != tc.wantVer || got.Commit != tc.wantRev || got.BuildDate != tc.wantDate {
				t.Errorf("got version %q commit %q date %q, want %q %q %q", got.Version, got.Commit, got.BuildDate, tc.wantVer, tc.wantRev, tc.wantDate)
			}
		})
	}
}
