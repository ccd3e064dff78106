package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"sync"
)

// account is a user the gate knows, with its credential prepared.
type account struct {
	User
	cred credential
}

// accounts is the gate's user table; it does not change after New.
type accounts struct {
	byName        map[string]*account
	defaultPlugin string

	// sha2Cache holds SHA256(SHA256(password)) of accounts known only by
	// a hash, learnt at their first full caching_sha2_password
	// authentication, as mysqld caches it: later logins take the fast path.
	sha2Cache sync.Map // user name → []byte

	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaPEM  []byte
	rsaErr  error
}

func newAccounts(users []User, defaultPlugin string, tlsKey any) (*accounts, error) {
	if defaultPlugin == "" {
		defaultPlugin = authNative
	}
	a := &accounts{byName: map[string]*account{}, defaultPlugin: defaultPlugin}
	if len(users) == 0 {
		// The local cluster's root sees and may end every connection.
		users = []User{{Name: "root", Privileges: []string{privProcess, privConnectionAdmin}}}
	}
	for _, u := range users {
		if err := u.normalize(defaultPlugin); err != nil {
			return nil, err
		}
		cred, err := newCredential(&u)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", u.Name, err)
		}
		if _, dup := a.byName[u.Name]; dup {
			return nil, fmt.Errorf("user %q listed twice", u.Name)
		}
		a.byName[u.Name] = &account{User: u, cred: cred}
	}
	if k, ok := tlsKey.(*rsa.PrivateKey); ok {
		a.rsaOnce.Do(func() { a.setRSAKey(k) })
	}
	return a, nil
}

// publicKey returns the PEM public key clients encrypt their password
// with for caching_sha2_password without TLS. It is the TLS key when that
// is RSA, else a key made at first use.
func (a *accounts) publicKey() (*rsa.PrivateKey, []byte, error) {
	a.rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			a.rsaErr = err
			return
		}
		a.setRSAKey(k)
	})
	return a.rsaKey, a.rsaPEM, a.rsaErr
}

func (a *accounts) setRSAKey(k *rsa.PrivateKey) {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		a.rsaErr = err
		return
	}
	a.rsaKey = k
	a.rsaPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// authenticate checks a client's credentials. plugin and resp are the
// client's first answer to salt; the gate switches the client to the
// account's plugin when they differ, as mysqld does. It returns the
// account, or an error to send (1045) without saying whether the user
// exists.
func (cc *clientConn) authenticate(user, plugin string, resp, salt []byte) (*account, error) {
	a := cc.g.accounts
	acct := a.byName[user]
	want := a.defaultPlugin
	if acct != nil {
		want = acct.Plugin
	}
	if plugin != want {
		b := append([]byte{0xfe}, want...)
		b = append(b, 0)
		b = append(b, salt...)
		b = append(b, 0)
		if err := cc.pw.WritePacket(b); err != nil {
			return nil, err
		}
		if err := cc.pw.Flush(); err != nil {
			return nil, err
		}
		var err error
		if resp, err = cc.readHandshakePacket(); err != nil {
			return nil, err
		}
	}
	var ok bool
	switch want {
	case authCachingSha2:
		var err error
		if ok, err = cc.cachingSha2(acct, resp, salt); err != nil {
			return nil, err
		}
	default:
		ok = acct != nil && acct.cred.checkNativeScramble(salt, resp)
	}
	if !ok {
		return nil, cc.errAccessDenied(user, len(resp) > 0)
	}
	return acct, nil
}

// More-data bytes of caching_sha2_password.
const (
	sha2FastAuthOK   = 3
	sha2FullAuth     = 4
	sha2RequestKey   = 2
	authMoreDataByte = 1
)

// cachingSha2 runs the caching_sha2_password exchange: the fast path when
// SHA256(SHA256(password)) is known, else the full authentication where
// the client sends its password over TLS or encrypted with our RSA key.
func (cc *clientConn) cachingSha2(acct *account, resp, salt []byte) (bool, error) {
	if len(resp) == 0 || (len(resp) == 1 && resp[0] == 0) {
		return acct != nil && acct.cred.isEmpty(), nil
	}
	a := cc.g.accounts
	var stage2 []byte
	if acct != nil {
		stage2 = acct.cred.sha2Stage2()
		if stage2 == nil {
			if v, ok := a.sha2Cache.Load(acct.Name); ok {
				stage2 = v.([]byte)
			}
		}
	}
	// After an authentication switch some clients (go-sql-driver) take the
	// scramble with the NUL that ends it: accept either.
	seeds := [][]byte{salt, append(append([]byte(nil), salt...), 0)}
	if stage2 != nil {
		if !checkSha2Scramble(stage2, seeds[0], resp) && !checkSha2Scramble(stage2, seeds[1], resp) {
			return false, nil
		}
		if err := cc.pw.WritePacket([]byte{authMoreDataByte, sha2FastAuthOK}); err != nil {
			return false, err
		}
		return true, nil
	}
	// Full authentication, also for unknown users so that a client cannot
	// tell them from a wrong password.
	if err := cc.pw.WritePacket([]byte{authMoreDataByte, sha2FullAuth}); err != nil {
		return false, err
	}
	if err := cc.pw.Flush(); err != nil {
		return false, err
	}
	pkt, err := cc.readHandshakePacket()
	if err != nil {
		return false, err
	}
	// candidates are the passwords the client may have sent.
	var candidates [][]byte
	if cc.tls {
		candidates = append(candidates, pkt)
	} else {
		key, pemKey, err := a.publicKey()
		if err != nil {
			return false, fmt.Errorf("rsa key: %w", err)
		}
		if len(pkt) == 1 && pkt[0] == sha2RequestKey {
			if err := cc.pw.WritePacket(append([]byte{authMoreDataByte}, pemKey...)); err != nil {
				return false, err
			}
			if err := cc.pw.Flush(); err != nil {
				return false, err
			}
			if pkt, err = cc.readHandshakePacket(); err != nil {
				return false, err
			}
		}
		plain, err := rsa.DecryptOAEP(sha1.New(), nil, key, pkt, nil)
		if err != nil {
			return false, nil
		}
		// The password went out XORed with the scramble, in either form.
		for _, seed := range seeds {
			p := append([]byte(nil), plain...)
			xorSalt(p, seed)
			candidates = append(candidates, p)
		}
	}
	var password string
	ok := false
	for _, c := range candidates {
		password = string(bytes.TrimSuffix(c, []byte{0}))
		if acct != nil && acct.cred.checkPlain(password) {
			ok = true
			break
		}
	}
	if !ok {
		return false, nil
	}
	if acct.cred.sha2Stage2() == nil {
		a.sha2Cache.Store(acct.Name, sha2Stage2(password))
	}
	return true, nil
}
