package datakey

import (
	"encoding/base64"
	"strings"
)

func decodeBase64(s string) ([]byte, error) {
	// Kubernetes accepts standard base64; tolerate line breaks as in `base64` output.
	s = strings.Join(strings.Fields(s), "")
	return base64.StdEncoding.DecodeString(s)
}

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
