#!/usr/bin/env bash
# Register the image as a Flex Template: a JSON spec at $TEMPLATE that anyone with access can run
# (console, gcloud, REST) without this repository. Run deploy/build_image.sh first.
source "$(dirname "$0")/common.sh"
gcloud dataflow flex-template build "${TEMPLATE}" \
  --project "${PROJECT}" \
  --image "${IMAGE}" \
  --sdk-language PYTHON \
  --metadata-file "${REPO_ROOT}/deploy/metadata.json"
echo "template: ${TEMPLATE}"
