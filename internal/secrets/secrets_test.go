package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func key(t *testing.T, b byte) ([]byte, Key) {
	t.Helper()
	raw := bytes.Repeat([]byte{b}, KeySize)
	k, err := NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return raw, k
}

func TestSealOpensOnlyWithItsKeyAndPlace(t *testing.T) {
	raw, k1 := key(t, 1)
	_, k2 := key(t, 2)
	kr, _ := NewKeyring(k1)
	id, sealed, err := kr.Seal([]byte("whsec_abc"), []byte("endpoint 7"))
	if err != nil {
		t.Fatal(err)
	}
	if id != k1.ID || bytes.Contains(sealed, []byte("whsec_abc")) {
		t.Fatalf("id %s sealed %x", id, sealed)
	}
	// The stored layout is nonce || AES-GCM(ciphertext, tag): opened here
	// with the standard library directly.
	block, _ := aes.NewCipher(raw)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, sealed[:12], sealed[12:], []byte("endpoint 7"))
	if err != nil || string(plain) != "whsec_abc" {
		t.Fatalf("standard GCM open = %q, %v", plain, err)
	}
	if got, err := kr.Open(id, sealed, []byte("endpoint 7")); err != nil || string(got) != "whsec_abc" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := kr.Open(id, sealed, []byte("endpoint 8")); !errors.Is(err, ErrTampered) {
		t.Fatalf("moved to another place: %v, want ErrTampered", err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := kr.Open(id, tampered, []byte("endpoint 7")); !errors.Is(err, ErrTampered) {
		t.Fatalf("altered: %v, want ErrTampered", err)
	}
	if _, err := kr.Open(id, sealed[:5], []byte("endpoint 7")); !errors.Is(err, ErrTampered) {
		t.Fatalf("truncated: %v, want ErrTampered", err)
	}
	other, _ := NewKeyring(k2)
	if _, err := other.Open(id, sealed, []byte("endpoint 7")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("other keyring: %v, want ErrUnknownKey", err)
	}
	// Two seals of one value differ (random nonces).
	_, again, _ := kr.Seal([]byte("whsec_abc"), []byte("endpoint 7"))
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals are equal: nonce reused")
	}
}

func TestRotatedKeyringOpensOldAndSealsNew(t *testing.T) {
	_, k1 := key(t, 1)
	_, k2 := key(t, 2)
	old, _ := NewKeyring(k1)
	id, sealed, _ := old.Seal([]byte("s"), nil)
	spec := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, KeySize)) + ", " +
		base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeySize))
	rotated, err := ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.CurrentID() != k2.ID || k1.ID == k2.ID {
		t.Fatalf("current %s, want %s (old %s)", rotated.CurrentID(), k2.ID, k1.ID)
	}
	if got, err := rotated.Open(id, sealed, nil); err != nil || string(got) != "s" {
		t.Fatalf("old value under the rotated keyring: %q, %v", got, err)
	}
	if nid, _, _ := rotated.Seal([]byte("s"), nil); nid != k2.ID {
		t.Fatalf("sealed with %s, want the new key %s", nid, k2.ID)
	}
}

func TestParseKeyringNamesTheBadKey(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeySize))
	for spec, want := range map[string]string{
		"":                 "key 1: empty",
		"not base64!":      "key 1: not base64",
		good + ",c2hvcnQ=": "key 2: decodes to 5 bytes",
		good + ",," + good: "key 2: empty",
	} {
		if _, err := ParseKeyring(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKeyring(%q) = %v, want %q", spec, err, want)
		}
	}
}

func TestKeyFileIsCreatedOncePrivateAndReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "pgdata.key")
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			kr, err := LoadOrCreateKeyFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = kr.CurrentID()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("racing creators got keys %v: want one", ids)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	kr, err := LoadOrCreateKeyFile(path)
	if err != nil || kr.CurrentID() != ids[0] {
		t.Fatalf("reloaded %v, %v", kr, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("%d files beside the key, want none left behind", len(entries)-1)
	}
	os.Chmod(path, 0o644)
	if _, err := LoadOrCreateKeyFile(path); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("world-readable key file: %v", err)
	}
}
