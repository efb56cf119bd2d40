#!/bin/sh
# Fetch GitHub's OpenAPI description (npm @octokit/openapi) into .cache/octokit-openapi/ at the
# repository root, where internal/fake/githubapi looks for it. Idempotent: a second run with the
# same pinned version does nothing, so `make test` can call it every time.
#
# Usage: internal/fake/githubapi/fetch-spec.sh   (from anywhere inside the repository)
# Needs: npm (the npm registry), tar.
set -eu

# Pinned: the fake's validation must not change under the tests when a new release is published.
# Check for newer ones with `npm view @octokit/openapi version`.
VERSION=23.0.2
# The dereferenced REST description of api.github.com: every $ref is inlined, so each request
# body schema compiles on its own.
MEMBER=package/generated/api.github.com.deref.json
OUT=api.github.com.deref.json
# The same description trimmed to what the fake validates (operations, parameters, request
# bodies): 1 MB instead of 70, so each test process parses it in milliseconds, even under -race.
TRIMMED=api.github.com.requests.json

here=$(cd "$(dirname "$0")" && pwd)
root=$here
while [ ! -f "$root/go.mod" ]; do
	parent=$(dirname "$root")
	if [ "$parent" = "$root" ]; then
		echo "fetch-spec.sh: no go.mod above $here: run it from inside the repository" >&2
		exit 1
	fi
	root=$parent
done
cache=$root/.cache/octokit-openapi

if [ -f "$cache/$OUT" ] && [ -f "$cache/$TRIMMED" ] && [ "$(cat "$cache/VERSION" 2>/dev/null)" = "$VERSION" ]; then
	exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
	echo "fetch-spec.sh: npm is not installed: install it (Debian: apt-get install npm) and run this again" >&2
	exit 1
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

(cd "$tmp" && npm pack --silent "@octokit/openapi@$VERSION" >/dev/null)
tar -xzf "$tmp/octokit-openapi-$VERSION.tgz" -C "$tmp" "$MEMBER"
# npm always comes with node, which parses the 70 MB description in about a second.
node -e '
const fs = require("fs");
const doc = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const paths = {};
for (const [tmpl, item] of Object.entries(doc.paths)) {
  const out = {};
  if (item.parameters) out.parameters = item.parameters;
  for (const m of ["get", "post", "put", "patch", "delete"]) {
    const op = item[m];
    if (!op) continue;
    const o = { operationId: op.operationId };
    if (op.parameters) o.parameters = op.parameters;
    if (op.requestBody) o.requestBody = op.requestBody;
    out[m] = o;
  }
  paths[tmpl] = out;
}
fs.writeFileSync(process.argv[2], JSON.stringify({ openapi: doc.openapi, info: doc.info, paths }));
' "$tmp/$MEMBER" "$tmp/$TRIMMED"
# Move into place last, so an interrupted run never leaves a half-written description behind.
mv "$tmp/$MEMBER" "$cache/$OUT"
mv "$tmp/$TRIMMED" "$cache/$TRIMMED"
echo "$VERSION" >"$cache/VERSION"
echo "fetch-spec.sh: @octokit/openapi@$VERSION -> .cache/octokit-openapi/$TRIMMED (and $OUT)"
