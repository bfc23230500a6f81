#!/usr/bin/env bash
# Write .env for the compose stack: .env.example with every empty secret (*_PASSWORD, *_SECRET[_KEY], *_FERNET_KEY)
# filled with a fresh random value. Values are URL-safe (they end up inside database and broker URLs).
# Refuses to overwrite an existing .env. Usage: docker/init-env.sh [TARGET]   (default: .env beside the compose file)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
example="$root/.env.example"
target="${1:-$root/.env}"

if [[ -e "$target" ]]; then
    echo "$target exists; not overwriting it (delete it first to start over)" >&2
    exit 1
fi
command -v openssl >/dev/null || { echo "openssl is needed to generate secrets" >&2; exit 2; }

fernet_key() { openssl rand -base64 32 | tr '+/' '-_'; }
random_secret() { openssl rand -hex 24; }

umask 077
tmp="$(mktemp "${target}.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "$line" =~ ^([A-Z0-9_]*(PASSWORD|SECRET|SECRET_KEY|FERNET_KEY))=$ ]]; then
        name="${BASH_REMATCH[1]}"
        if [[ "$name" == *FERNET_KEY* ]]; then
            printf '%s=%s\n' "$name" "$(fernet_key)"
        else
            printf '%s=%s\n' "$name" "$(random_secret)"
        fi
    else
        printf '%s\n' "$line"
    fi
done < "$example" > "$tmp"
mv "$tmp" "$target"
trap - EXIT
echo "wrote $target (mode 600); keep it out of version control"
