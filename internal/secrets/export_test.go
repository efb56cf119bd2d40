package secrets

import (
	"context"
	"fmt"
	"os"

	"github.com/getsops/sops/v3"
)

// Parsed is a secrets file read and parsed, its data key recovered: what BenchmarkDecrypt500Keys
// needs to time the decryption alone.
type Parsed struct {
	path, usedKey string
	dataKey       []byte
	data          []byte
}

// ParseFile reads path and recovers its data key with opt.
func ParseFile(ctx context.Context, path string, opt Options) (*Parsed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tree, problems := inspect(path, data)
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: %s", path, problems[0].What)
	}
	key, used, err := dataKey(ctx, path, tree.Metadata, opt)
	if err != nil {
		return nil, err
	}
	return &Parsed{path: path, usedKey: used, dataKey: key, data: data}, nil
}

// Tree parses the file again: decryption spends the tree it decrypts.
func (p *Parsed) Tree() sops.Tree {
	tree, _ := inspect(p.path, p.data)
	return tree
}

// Decrypt decrypts tree with the file's data key and checks its MAC, as DecryptFile does once it
// has the key.
func (p *Parsed) Decrypt(tree sops.Tree) (map[string]any, error) {
	return decryptTree(p.path, tree, p.dataKey, p.usedKey)
}
