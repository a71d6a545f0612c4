# Shared settings of the deploy scripts; sourced, not run. Every value can be overridden from the
# environment; the ones without a default must be set (deploy/README.md step 1).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
missing=0
for var in PROJECT REGION BUCKET; do
  if [[ -z "${!var:-}" ]]; then
    echo "deploy: ${var} is not set (export ${var}=...; see deploy/README.md)" >&2
    missing=1
  fi
done
[[ "${missing}" == 0 ]] || exit 2

VERSION="$(sed -n 's/^ *version="\([^"]*\)".*/\1/p' "${REPO_ROOT}/setup.py")"
REPOSITORY="${REPOSITORY:-c4}"
IMAGE="${IMAGE:-${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}/c4-pipeline:${VERSION}}"
TEMPLATE="${TEMPLATE:-gs://${BUCKET}/templates/c4-build-${VERSION}.json}"
TEMP_LOCATION="${TEMP_LOCATION:-gs://${BUCKET}/tmp}"
MACHINE_TYPE="${MACHINE_TYPE:-n1-standard-2}"
MAX_WORKERS="${MAX_WORKERS:-500}"
C4="${C4:-${REPO_ROOT}/.venv/bin/c4}"
