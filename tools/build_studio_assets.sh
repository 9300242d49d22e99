#!/usr/bin/env bash
# Rebuilds the JavaScript that MusicVAE Studio vendors (src/musicvae/studio/static/vendor) from
# the npm registry, at pinned versions, with each package's licence copied beside its file.
# Run it from anywhere; it needs npm and tar, and changes nothing else.
#
#   bash tools/build_studio_assets.sh
#
# Tone.js (MIT): WebAudio synths and the transport that plays clips in the page. Its build
# bundles standardized-audio-context (MIT), named in Tone.js.LICENSE.txt.
set -euo pipefail

TONE_VERSION="15.1.22"

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/src/musicvae/studio/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "tone@$TONE_VERSION" >/dev/null
tar xzf "tone-$TONE_VERSION.tgz"
mkdir -p "$vendor"
cp package/build/Tone.js "$vendor/tone.js"
# Without its source map: drop the comment that points to it.
sed -i '/^\/\/# sourceMappingURL=/d' "$vendor/tone.js"
cp package/LICENSE.md "$vendor/tone.LICENSE.md"
cp package/build/Tone.js.LICENSE.txt "$vendor/tone.js.LICENSE.txt"
cat > "$vendor/VERSIONS.txt" <<VERSIONS
Vendored by tools/build_studio_assets.sh from the npm registry; do not edit by hand.
tone $TONE_VERSION  tone.js (build/Tone.js)  MIT  tone.LICENSE.md, tone.js.LICENSE.txt
VERSIONS
sha256sum "$vendor/tone.js" | sed "s#$vendor/##" >> "$vendor/VERSIONS.txt"
echo "vendored tone $TONE_VERSION into $vendor"
