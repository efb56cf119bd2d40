package deploy

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// ManagedVar is the config var in which the action records, by name only, the vars it set. It is how
// a later run knows which vars left the secrets file (and must be unset) and which were set by
// someone else, such as an add-on's DATABASE_URL (and must never be touched).
const ManagedVar = "DEPLOY_ACTION_MANAGED_VARS"

// configSizeLimit is Heroku's limit on the total size of an app's config vars (names and values).
const configSizeLimit = 64 * 1024

var varName = regexp.MustCompile(`^\w+$`)

// VarChanges is what applying a secrets file to an app's config vars changes, in two steps. Setting
// vars restarts the running code with them, so vars are added and changed before the new code is
// built or promoted (the old code ignores a var it does not know), and unset only once the new code
// runs and has passed its release phase and health check (the old code may still read them).
type VarChanges struct {
	Set   []string           // names added or changed, sorted
	Unset []string           // names the action set earlier that left the file, sorted
	Patch map[string]*string // the first PATCH body: Set, and ManagedVar still naming Unset
	Later map[string]*string // the second PATCH body, empty when Unset is: nil unsets, and ManagedVar
	// Managed is ManagedVar's value once both steps are done.
	Managed string
}

// Empty reports whether nothing needs to be sent before the new code.
func (c VarChanges) Empty() bool { return len(c.Patch) == 0 }

// DiffVars compares the desired vars (from the secrets file, plus the deployment var) with the app's
// current config vars.
func DiffVars(current, desired map[string]string) (VarChanges, error) {
	if err := checkVars(current, desired); err != nil {
		return VarChanges{}, err
	}
	names := slices.Sorted(maps.Keys(desired))
	c := VarChanges{Patch: map[string]*string{}, Later: map[string]*string{}, Managed: strings.Join(names, ",")}
	for _, name := range names {
		value := desired[name]
		if old, ok := current[name]; !ok || old != value {
			c.Set = append(c.Set, name)
			c.Patch[name] = &value
		}
	}
	for _, name := range strings.Split(current[ManagedVar], ",") {
		if name == "" || name == ManagedVar {
			continue
		}
		if _, keep := desired[name]; keep {
			continue
		}
		if _, present := current[name]; present {
			c.Unset = append(c.Unset, name)
			c.Later[name] = nil
		}
	}
	sort.Strings(c.Unset)
	// Until they are really unset, the removed names stay in the managed list: a run that fails in
	// between, or a rerun that finds the commit deployed, still knows to unset them.
	managedFirst := strings.Join(slices.Sorted(slices.Values(append(slices.Clone(names), c.Unset...))), ",")
	if current[ManagedVar] != managedFirst {
		c.Patch[ManagedVar] = &managedFirst
	}
	if len(c.Unset) > 0 {
		managed := c.Managed
		c.Later[ManagedVar] = &managed
	}
	return c, nil
}

// checkVars rejects, before any write, names Heroku refuses and a config that would exceed its size
// limit once applied.
func checkVars(current, desired map[string]string) error {
	var bad []string
	for name := range desired {
		if !varName.MatchString(name) {
			bad = append(bad, fmt.Sprintf("%q", name))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("config var names must be letters, digits and underscores (Heroku's ^\\w+$): %s", strings.Join(bad, ", "))
	}
	size := 0
	for name, value := range current {
		if _, replaced := desired[name]; !replaced {
			size += len(name) + len(value)
		}
	}
	for name, value := range desired {
		size += len(name) + len(value)
	}
	if size > configSizeLimit {
		return fmt.Errorf("config vars would total %d bytes, over Heroku's limit of %d: move large values out of the secrets file", size, configSizeLimit)
	}
	return nil
}
