package model

import (
	"crypto/rand"
	"encoding/base32"
	"math/big"
	"strings"
)

// ID prefixes, as Alibaba names its resources.
const (
	PrefixVPC      = "vpc-"
	PrefixVSwitch  = "vsw-"
	PrefixSG       = "sg-"
	PrefixHost     = "i-"
	PrefixService  = "epsrv-"
	PrefixEndpoint = "ep-"
	PrefixENI      = "eni-"
	PrefixLB       = "nlb-"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns prefix followed by 20 random lowercase base32 characters.
func NewID(prefix string) string {
	var b [13]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return prefix + idEncoding.EncodeToString(b[:])[:20]
}

// ValidID reports whether s is prefix plus 20 lowercase base32 characters.
func ValidID(prefix, s string) bool {
	if !strings.HasPrefix(s, prefix) || len(s) != len(prefix)+20 {
		return false
	}
	for _, c := range s[len(prefix):] {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// NewAccountID returns a random 16-digit numeric account ID.
func NewAccountID() string {
	n, err := rand.Int(rand.Reader, big.NewInt(9e15))
	if err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return new(big.Int).Add(n, big.NewInt(1e15)).String()
}

// ValidAccountID reports whether s is a 16-digit account ID.
func ValidAccountID(s string) bool {
	if len(s) != 16 || s[0] == '0' {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
