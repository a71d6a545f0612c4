#!/usr/bin/env bash
# Build the worker image (deploy/Dockerfile) and push it to Artifact Registry.
# Default: Cloud Build (no local Docker needed). LOCAL_DOCKER=1: docker build + docker push here.
source "$(dirname "$0")/common.sh"
cd "${REPO_ROOT}"

if [[ "${LOCAL_DOCKER:-0}" == 1 ]]; then
  DOCKER_BUILDKIT=1 docker build -f deploy/Dockerfile -t "${IMAGE}" .
  docker push "${IMAGE}"
else
  gcloud builds submit --project "${PROJECT}" --region "${REGION}" \
    --config deploy/cloudbuild.yaml --substitutions "_IMAGE=${IMAGE}" .
fi
echo "image: ${IMAGE}"
