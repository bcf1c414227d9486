# One image for the compose stack: Meltano with both plugins installed, the emulator, qbo-warehouse
# and the Dagster orchestrator (qbo_orchestrate).
FROM python:3.11-slim

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    MELTANO_SEND_ANONYMOUS_USAGE_STATS=false \
    PYTHONUNBUFFERED=1

WORKDIR /project
COPY requirements-dev.txt constraints.txt meltano.yml ./
COPY qbo-emulator ./qbo-emulator
COPY tap-quickbooks ./tap-quickbooks
COPY warehouse ./warehouse
COPY target-postgres-fast ./target-postgres-fast
COPY orchestrate ./orchestrate
COPY plugins/constraints.txt ./plugins/
COPY plugins/utilities/constraints.txt ./plugins/utilities/
COPY transform ./transform
COPY scripts/install-image scripts/compile-bytecode ./scripts/
# Every install step is in scripts/install-image (tests/test_image.py runs it without Docker).
RUN scripts/install-image

# State (Meltano's system database) and rotated refresh tokens live on a volume mounted here.
VOLUME ["/data"]
CMD ["meltano", "run", "incremental"]
