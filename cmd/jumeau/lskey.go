package main

import (
	"strconv"
	"strings"

	"github.com/monaco-sovereign/jumeau/replicator"
)

// printableKey is how `jumeau ls` prints a key on its line. Keys written
// today are UTF-8 text without control characters (replicator.ValidateKey)
// and print as they are. A key stored before that rule (a CR or LF in it
// would split its line) prints Go-quoted, and so does a key starting with
// a double quote, so that a line starting with '"' is always a quoted key:
// every key prints on one line and no two keys print alike.
func printableKey(key string) string {
	if replicator.ValidateKey(key) != nil || strings.HasPrefix(key, `"`) {
		return strconv.Quote(key)
	}
	return key
}
