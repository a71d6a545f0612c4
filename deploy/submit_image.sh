#!/usr/bin/env bash
# c4 submit with the worker image: nothing is installed on workers at start-up.
#   deploy/submit_image.sh --crawl CC-MAIN-2019-18 --output gs://$BUCKET/c4 [--dry_run] [more flags]
source "$(dirname "$0")/common.sh"
exec "${C4}" submit --project "${PROJECT}" --region "${REGION}" \
  --temp_location "${TEMP_LOCATION}" --machine_type "${MACHINE_TYPE}" \
  --max_num_workers "${MAX_WORKERS}" --sdk_container_image "${IMAGE}" "$@"
