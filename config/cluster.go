package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// Limits of the cluster secret, the same as rpc.MinSecretSize and
// rpc.MaxSecretSize (config does not import rpc).
const (
	// MinSecretSize is the shortest cluster secret, in bytes.
	MinSecretSize = 16
	// MaxSecretSize is the longest cluster secret, in bytes.
	MaxSecretSize = 4096
)

const clusterSection = "cluster"

// ClusterConfig is the [cluster] section: what every process of the
// cluster shares. Its secret authenticates the links between games or
// gates and dispatchers (docs/architecture.md, "Server links").
type ClusterConfig struct {
	// Secret (secret) is the cluster secret itself. Prefer SecretFile:
	// config.ini tends to be checked into version control and copied
	// around; a secret in it goes wherever it goes.
	Secret string
	// SecretFile (secret_file) is a file holding the cluster secret (at
	// least MinSecretSize bytes; white space around it is ignored),
	// relative to the server directory. Readable by the server's user
	// only, ideally.
	SecretFile string
}

func clusterFields(c *ClusterConfig) []field {
	return []field{
		strField("secret", &c.Secret),
		strField("secret_file", &c.SecretFile),
	}
}

// validate checks the [cluster] section. The secret itself is never
// quoted in a problem.
func (c *ClusterConfig) validate(ps *problems) {
	switch {
	case c.Secret != "" && c.SecretFile != "":
		ps.add(clusterSection, "", "set secret or secret_file, not both", "secret", "secret_file")
	case c.Secret != "" && len(c.Secret) < MinSecretSize:
		ps.add(clusterSection, "secret", fmt.Sprintf("is too short (%d bytes): at least %d; better, put a random one in a file named by secret_file (openssl rand -base64 32 > cluster.secret)", len(c.Secret), MinSecretSize), "secret")
	case len(c.Secret) > MaxSecretSize:
		ps.add(clusterSection, "secret", fmt.Sprintf("is too long (%d bytes): at most %d", len(c.Secret), MaxSecretSize), "secret")
	}
}

// LoadSecret returns the cluster secret: Secret, or the contents of
// SecretFile without the white space around them, or nil if neither is
// set. warn, if not empty, says why the file may be exposed (it is
// readable by other users). Errors name the file, never its contents.
func (c *ClusterConfig) LoadSecret() (secret []byte, warn string, err error) {
	if c.SecretFile == "" {
		if c.Secret == "" {
			return nil, "", nil
		}
		return []byte(c.Secret), "", nil
	}
	f, err := os.Open(c.SecretFile)
	if err != nil {
		return nil, "", fmt.Errorf("[cluster] secret_file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("[cluster] secret_file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, "", fmt.Errorf("[cluster] secret_file %s: not a regular file", c.SecretFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, 2*MaxSecretSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("[cluster] secret_file: %w", err)
	}
	secret = bytes.TrimSpace(data)
	switch {
	case len(data) > 2*MaxSecretSize || len(secret) > MaxSecretSize:
		return nil, "", fmt.Errorf("[cluster] secret_file %s: longer than %d bytes: not a secret file", c.SecretFile, MaxSecretSize)
	case len(secret) < MinSecretSize:
		return nil, "", fmt.Errorf("[cluster] secret_file %s: the secret is %d bytes, at least %d are needed (openssl rand -base64 32 > %s)", c.SecretFile, len(secret), MinSecretSize, c.SecretFile)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		warn = fmt.Sprintf("[cluster] secret_file %s is readable by other users (mode %v): chmod 600 it", c.SecretFile, fi.Mode().Perm())
	}
	return secret, warn, nil
}
