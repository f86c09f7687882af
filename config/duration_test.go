package config

import (
	"encoding/json"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/config/yamlstrict"
)

func TestDurationYAML(t *testing.T) {
	tests := []struct {
		src     string
		want    time.Duration
		wantErr string
	}{
		{"500ms", 500 * time.Millisecond, ""},
		{"3s", 3 * time.Second, ""},
		{"1m30s", 90 * time.Second, ""},
		{`"2s"`, 2 * time.Second, ""},
		{"0s", 0, ""},
		{"5", 0, `expected a duration like 500ms or 3s, got "5"`},
		{"1.5", 0, `expected a duration like 500ms or 3s, got "1.5"`},
		{`"5"`, 0, `expected a duration like 500ms or 3s, got "5"`},
		{"0", 0, `expected a duration like 500ms or 3s, got "0"`},
		{"3 s", 0, `expected a duration like 500ms or 3s, got "3 s"`},
		{"fast", 0, `expected a duration like 500ms or 3s, got "fast"`},
		{"-1s", 0, `must not be negative, got "-1s"`},
		{"[1s]", 0, "expected a duration like 500ms or 3s, got a list"},
	}
	for _, tt := range tests {
		var v struct {
			D Duration `yaml:"d"`
		}
		err := yamlstrict.DecodeStrict([]byte("d: "+tt.src+"\n"), &v)
		if tt.wantErr == "" {
			if err != nil || v.D.D() != tt.want {
				t.Errorf("%s: got %v, %v; want %v", tt.src, v.D, err, tt.want)
			}
			continue
		}
		want := "line 1: d: " + tt.wantErr
		if err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %q", tt.src, err, want)
		}
	}
}

func TestDurationMarshal(t *testing.T) {
	d := Duration(1500 * time.Millisecond)
	y, err := yaml.Marshal(map[string]Duration{"d": d})
	if err != nil || string(y) != "d: 1.5s\n" {
		t.Fatalf("yaml = %q, %v", y, err)
	}
	j, err := json.Marshal(struct{ D Duration }{d})
	if err != nil || string(j) != `{"D":"1.5s"}` {
		t.Fatalf("json = %s, %v", j, err)
	}
	var back struct{ D Duration }
	if err := json.Unmarshal(j, &back); err != nil || back.D != d {
		t.Fatalf("json round trip = %v, %v", back.D, err)
	}
	for _, bad := range []string{`{"D":5}`, `{"D":"5"}`, `{"D":"-2s"}`, `{"D":"x"}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("json %s accepted", bad)
		}
	}
}
