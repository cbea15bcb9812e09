package faultlink

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParams_Validate(t *testing.T) {
	for _, c := range []struct {
		p     Params
		field string // "" if valid
	}{
		{Params{}, ""},
		{Params{Delay: MaxDelay, Jitter: MaxDelay, Loss: 1, Bandwidth: 1, Blackhole: true}, ""},
		{Params{Delay: -1}, "delay"},
		{Params{Delay: MaxDelay + 1}, "delay"},
		{Params{Jitter: -time.Millisecond}, "jitter"},
		{Params{Loss: -0.1}, "loss"},
		{Params{Loss: 1.01}, "loss"},
		{Params{Loss: math.NaN()}, "loss"},
		{Params{Bandwidth: -5}, "bandwidth"},
	} {
		err := c.p.Validate()
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%v: got %v, want nil", c.p, err)
		case c.field != "" && !errors.Is(err, ErrInvalidParams):
			t.Errorf("%v: got %v, want ErrInvalidParams", c.p, err)
		case c.field != "" && (!strings.HasPrefix(err.Error(), c.field) || !strings.Contains(err.Error(), "fix:")):
			t.Errorf("%v: got message %q, want it to start with %q and name the fix", c.p, err, c.field)
		}
	}
}

func TestParams_JSON(t *testing.T) {
	t.Run("round trip", func(t *testing.T) {
		p := Params{Delay: 12 * time.Millisecond, Jitter: 1500 * time.Microsecond, Loss: 0.05, Bandwidth: 1 << 20, Blackhole: true}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(b), `{"delay":"12ms","jitter":"1.5ms","loss":0.05,"bandwidth":1048576,"blackhole":true}`; got != want {
			t.Errorf("Marshal: got %s, want %s", got, want)
		}
		var got Params
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got != p {
			t.Errorf("round trip: got %v, want %v", got, p)
		}
	})

	t.Run("partial", func(t *testing.T) {
		var got Params
		if err := json.Unmarshal([]byte(`{"delay":"1s"}`), &got); err != nil {
			t.Fatal(err)
		}
		if want := (Params{Delay: time.Second}); got != want {
			t.Errorf("got %v, want %v", got, want)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, in := range []string{
			`{"delay":"12"}`,
			`{"delay":12}`,
			`{"jitter":"soon"}`,
			`{"lossy":0.1}`,
			`{"loss":"high"}`,
			`[]`,
		} {
			var p Params
			if err := json.Unmarshal([]byte(in), &p); !errors.Is(err, ErrInvalidParams) {
				t.Errorf("%s: got %v, want ErrInvalidParams", in, err)
			}
		}
	})

	t.Run("NaN", func(t *testing.T) {
		if _, err := json.Marshal(Params{Loss: math.NaN()}); err == nil {
			t.Errorf("got nil error, want one")
		}
	})
}

func FuzzParamsJSON(f *testing.F) {
	f.Add([]byte(`{"delay":"12ms","jitter":"1.5ms","loss":0.05,"bandwidth":1048576,"blackhole":true}`))
	f.Add([]byte(`{"delay":"-1h"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"loss":1e400}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Params
		if err := json.Unmarshal(data, &p); err != nil {
			return
		}
		if p.Validate() != nil {
			return
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal of valid %v: %v", p, err)
		}
		var again Params
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("Unmarshal of %s: %v", b, err)
		}
		if again != p {
			t.Fatalf("round trip: got %v, want %v", again, p)
		}
	})
}
