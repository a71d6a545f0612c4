#!/usr/bin/env bash
# The classic path, no image: Beam builds an sdist of setup.py here and every worker pip-installs
# it (and its dependencies, from PyPI) when it starts. Slower start, nothing to build first.
#   deploy/run_dataflow.sh --crawl CC-MAIN-2019-18 --max_wet_files 10 --output gs://$BUCKET/c4-try
source "$(dirname "$0")/common.sh"
exec "${C4}" submit --project "${PROJECT}" --region "${REGION}" \
  --temp_location "${TEMP_LOCATION}" --machine_type "${MACHINE_TYPE}" \
  --max_num_workers "${MAX_WORKERS}" --setup_file "${REPO_ROOT}/setup.py" "$@"
