package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// builtinFS holds the built-in scenarios, one file NAME.yaml each.
//
//go:embed builtin/*.yaml
var builtinFS embed.FS

// builtinDir is the directory of builtinFS holding the files.
const builtinDir = "builtin"

// Builtins returns the names of the built-in scenarios, sorted.
func Builtins() []string {
	entries, err := fs.ReadDir(builtinFS, builtinDir)
	if err != nil {
		// The directory is embedded at build time: it exists.
		return nil
	}
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok && !e.IsDir() {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// BuiltinSource returns the YAML file of a built-in scenario as written,
// comments included: what `jumeau drill show` prints to copy and edit.
func BuiltinSource(name string) ([]byte, error) {
	if !slices.Contains(Builtins(), name) {
		return nil, fmt.Errorf("%w: %q (built-ins: %s)", ErrUnknownBuiltin, name, strings.Join(Builtins(), ", "))
	}
	b, err := builtinFS.ReadFile(path.Join(builtinDir, name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("scenarios: read built-in %s: %w", name, err)
	}
	return b, nil
}

// Builtin parses a built-in scenario.
func Builtin(name string) (*Scenario, error) {
	b, err := BuiltinSource(name)
	if err != nil {
		return nil, err
	}
	return Parse(path.Join(builtinDir, name+".yaml"), b)
}
