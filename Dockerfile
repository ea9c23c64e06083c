# chargestream image: the `chargestream` CLI; the default command runs the worker.
#   docker build -t chargestream .
#   docker run --rm chargestream migrate        (any subcommand: worker, migrate, simulate, ...)
# Multi-stage: dependencies are resolved and built (the compiled modules too) in a venv in the
# first stage, so the runtime stage has no compiler, no pip cache and no source tree.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# A C compiler: the install compiles the hot pure modules with mypyc (setup.py).
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
# The venv's interpreter links to /usr/local/bin/python3.11, present at the same path in the
# runtime stage because both stages use the same base image.
RUN python -m venv /opt/venv
WORKDIR /src
# Pins first: this layer is reused until pyproject.toml or constraints.txt change.
COPY pyproject.toml setup.py constraints.txt README.md ./
COPY agents ./agents
COPY infra ./infra
# constraints.txt pins every dependency to the versions CI tests.
RUN /opt/venv/bin/pip install -c constraints.txt .

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric uid/gid so Kubernetes can verify runAsNonRoot; the state dir is created here, owned
# by that user, so a fresh named volume mounted on it is writable.
RUN groupadd --system --gid 10001 chargestream \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /app \
       --shell /usr/sbin/nologin chargestream \
    && install -d -o 10001 -g 10001 -m 0750 /app /var/lib/chargestream
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# State lives under /var/lib/chargestream (mount a volume there): the worker's Faust data
# directory, and beside it those of `chargestream replay` runs (siblings of the data dir).
# The web server must listen beyond loopback inside a container.
ENV CHARGESTREAM_DATA_DIR=/var/lib/chargestream/worker \
    CHARGESTREAM_WEB_HOST=0.0.0.0 \
    CHARGESTREAM_WEB_PORT=6066
USER 10001:10001
EXPOSE 6066
# /healthz: the worker process is alive (not readiness). slim has no curl; python does.
# Only the worker serves HTTP: give other subcommands --no-healthcheck (compose: disable).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CHARGESTREAM_WEB_PORT', '6066'), timeout=4)"]
ENTRYPOINT ["chargestream"]
CMD ["worker"]
