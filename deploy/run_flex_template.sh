#!/usr/bin/env bash
# Run the Flex Template. Template parameters as KEY=VALUE arguments, e.g.
#   deploy/run_flex_template.sh crawl=CC-MAIN-2019-18 output=gs://$BUCKET/c4
# The workers use the same image as the launcher (sdk_container_image).
source "$(dirname "$0")/common.sh"
# gcloud's "^~^" prefix makes "~" the separator, so a value may hold commas (crawl=A,B).
params="^~^sdk_container_image=${IMAGE}"
for kv in "$@"; do params="${params}~${kv}"; done
gcloud dataflow flex-template run "c4-$(date -u +%Y%m%d-%H%M%S)" \
  --project "${PROJECT}" \
  --region "${REGION}" \
  --template-file-gcs-location "${TEMPLATE}" \
  --temp-location "${TEMP_LOCATION}" \
  --worker-machine-type "${MACHINE_TYPE}" \
  --max-workers "${MAX_WORKERS}" \
  --additional-experiments shuffle_mode=service \
  --parameters "${params}"
