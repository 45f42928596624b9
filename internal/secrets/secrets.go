// Package secrets seals values the service must read back (webhook
// signing secrets) with a server key, so a dump or backup of the database
// does not hand them out. AES-256-GCM from the standard library; each
// sealed value is stored beside the id of the key that sealed it, so keys
// can rotate: the first key of a Keyring seals, every key opens.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// EnvVar names the variable that holds the keys.
const EnvVar = "UPSTREAM_SECRET_KEY"

// Key is one AES-256-GCM key and its id.
type Key struct {
	ID   string
	aead cipher.AEAD
}

// NewKey makes a Key of 32 raw bytes. Its id is derived from the key (a
// truncated SHA-256, which says nothing of the key), so nobody has to
// name keys and the same key always has the same id.
func NewKey(raw []byte) (Key, error) {
	if len(raw) != KeySize {
		return Key{}, fmt.Errorf("a secret key is %d bytes, got %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return Key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return Key{}, err
	}
	sum := sha256.Sum256(append([]byte("upstream secret key id\x00"), raw...))
	return Key{ID: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// Keyring seals with its first key and opens with any of them.
type Keyring struct {
	keys []Key
}

// NewKeyring returns a keyring of keys, the first sealing.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("a keyring needs a key")
	}
	return &Keyring{keys: keys}, nil
}

// ParseKeyring reads keys written as base64 (standard or URL alphabet,
// padded or not), separated by commas: the first seals, the others only
// open (the keys being rotated out).
func ParseKeyring(spec string) (*Keyring, error) {
	var keys []Key
	for i, part := range strings.Split(spec, ",") {
		raw, err := decodeKey(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%s: key %d: %w", EnvVar, i+1, err)
		}
		k, err := NewKey(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: key %d: %w", EnvVar, i+1, err)
		}
		keys = append(keys, k)
	}
	return NewKeyring(keys...)
}

func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			if len(raw) != KeySize {
				return nil, fmt.Errorf("decodes to %d bytes, want %d (e.g. openssl rand -base64 32)", len(raw), KeySize)
			}
			return raw, nil
		}
	}
	return nil, errors.New("not base64 (e.g. openssl rand -base64 32)")
}

// Keys returns the keyring's keys, the sealing one first: a keyring
// rotated to a new key is NewKeyring(newKey, old.Keys()...).
func (k *Keyring) Keys() []Key { return append([]Key(nil), k.keys...) }

// CurrentID is the id of the key that seals.
func (k *Keyring) CurrentID() string { return k.keys[0].ID }

// Seal encrypts plaintext with the current key. aad binds the sealed
// value to where it is stored: opened with other aad, it fails. The
// result is the random 12-byte nonce followed by the ciphertext and tag.
func (k *Keyring) Seal(plaintext, aad []byte) (keyID string, sealed []byte, err error) {
	key := k.keys[0]
	nonce := make([]byte, key.aead.NonceSize(), key.aead.NonceSize()+len(plaintext)+key.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, err
	}
	return key.ID, key.aead.Seal(nonce, nonce, plaintext, aad), nil
}

// ErrUnknownKey is returned for a value sealed by a key the keyring does
// not hold.
var ErrUnknownKey = errors.New("sealed by a key that is not configured")

// ErrTampered is returned for a value that does not open: altered, moved
// to another place (aad), or sealed by another key with the same id.
var ErrTampered = errors.New("sealed value does not open (altered, moved, or another key)")

// Open decrypts a value sealed by the key keyID with aad.
func (k *Keyring) Open(keyID string, sealed, aad []byte) ([]byte, error) {
	for _, key := range k.keys {
		if key.ID != keyID {
			continue
		}
		n := key.aead.NonceSize()
		if len(sealed) < n+key.aead.Overhead() {
			return nil, ErrTampered
		}
		plain, err := key.aead.Open(nil, sealed[:n], sealed[n:], aad)
		if err != nil {
			return nil, ErrTampered
		}
		return plain, nil
	}
	return nil, fmt.Errorf("key %s: %w (%s lists the keys)", keyID, ErrUnknownKey, EnvVar)
}

// LoadOrCreateKeyFile returns the keyring of the key file at path,
// creating it with a new random key (mode 0600) when it does not exist:
// the private cluster's default, so nothing has to be configured. A file
// readable by others is refused.
func LoadOrCreateKeyFile(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw := make([]byte, KeySize)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create the secret key file: %w", err)
		}
		// Written whole to a temporary file, then linked into place: two
		// commands starting at once agree on the first key, and neither
		// reads a half-written file.
		f, err := os.CreateTemp(filepath.Dir(path), ".secret-key-*")
		if err != nil {
			return nil, fmt.Errorf("create the secret key file: %w", err)
		}
		defer os.Remove(f.Name())
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr == nil {
			werr = os.Chmod(f.Name(), 0o600)
		}
		if werr != nil {
			return nil, fmt.Errorf("write the secret key file: %w", werr)
		}
		if err := os.Link(f.Name(), path); errors.Is(err, fs.ErrExist) {
			return LoadOrCreateKeyFile(path)
		} else if err != nil {
			return nil, fmt.Errorf("create the secret key file: %w", err)
		}
		b = []byte(base64.StdEncoding.EncodeToString(raw))
	} else if err != nil {
		return nil, fmt.Errorf("read the secret key file: %w", err)
	} else if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret key file %s is readable by others (mode %v): chmod 600 it", path, st.Mode().Perm())
	}
	kr, err := ParseKeyring(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return kr, nil
}
