package scenarios

import (
	"reflect"
	"testing"
)

// FuzzParse: Parse never panics, and every scenario it accepts is valid
// and survives YAML and Parse again unchanged.
func FuzzParse(f *testing.F) {
	for _, name := range Builtins() {
		src, err := BuiltinSource(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(baseYAML))
	f.Add([]byte(variantT(f, "kill: leader", "kill: [leader, sites:2, &x site-a]", "    delay: 10ms\n", "    delay: 10ms\n  - {at: 7s, kill: *x}\n")))
	f.Add([]byte(variantT(f, "rto: \"<= 10s\"", "rpo: \"<= 0\"\n  rto: \"< 1m30s\"\n  split_brain: \"== 0\"\n  promotions: \"!= 1\"\n  integrity: verified")))
	f.Add([]byte("name: x\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			if s != nil {
				t.Fatalf("got a scenario and an error %v", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted a scenario Validate refuses: %v", err)
		}
		b, err := s.YAML()
		if err != nil {
			t.Fatalf("YAML: %v", err)
		}
		back, err := Parse("roundtrip.yaml", b)
		if err != nil {
			t.Fatalf("Parse(YAML()): %v\n%s", err, b)
		}
		if !reflect.DeepEqual(back, s) {
			t.Fatalf("round trip: got\n%+v\nwant\n%+v\nfrom\n%s", back, s, b)
		}
		if got, want := len(s.Timeline()), len(s.Faults)+len(s.Attacks); got != want {
			t.Fatalf("timeline: got %d steps, want %d", got, want)
		}
	})
}
