package proxy

import (
	"slices"
	"testing"
)

// TestPasswordHash: what `mosaicctl users hash` prints logs the password
// in, and nothing else.
func TestPasswordHash(t *testing.T) {
	for _, plugin := range []string{authNative, authCachingSha2} {
		h, err := PasswordHash("s3cret pw", plugin)
		if err != nil {
			t.Fatal(err)
		}
		u := User{Name: "u", PasswordHash: h}
		if err := u.normalize(""); err != nil {
			t.Fatalf("%s: %v", plugin, err)
		}
		if u.Plugin != plugin {
			t.Errorf("hash %s gives plugin %s, want %s", h, u.Plugin, plugin)
		}
		cred, err := newCredential(&u)
		if err != nil {
			t.Fatal(err)
		}
		if !cred.checkPlain("s3cret pw") || cred.checkPlain("s3cret") || cred.checkPlain("") {
			t.Errorf("%s: the hash does not check the password", plugin)
		}
	}
	if _, err := PasswordHash("x", "sha256_password"); err == nil {
		t.Error("an unknown plugin hashed")
	}
}

func TestUserPrivileges(t *testing.T) {
	u := User{Name: "ops", Privileges: []string{"process", "connection_admin"}}
	if err := u.normalize(""); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(u.Privileges, []string{privProcess, privConnectionAdmin}) || !u.hasPrivilege(privProcess) || !u.hasPrivilege(privConnectionAdmin) {
		t.Errorf("privileges %q", u.Privileges)
	}
	bad := User{Name: "x", Privileges: []string{"SUPER"}}
	if err := bad.normalize(""); err == nil {
		t.Error("SUPER accepted as a gate privilege")
	}
	users, err := ParseUsers([]byte("users:\n  - name: a\n    privileges: [PROCESS]\n  - name: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !users[0].hasPrivilege(privProcess) || users[0].hasPrivilege(privConnectionAdmin) || users[1].hasPrivilege(privProcess) {
		t.Errorf("parsed %+v", users)
	}
}
