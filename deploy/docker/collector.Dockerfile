# tuneline collector: SQL, log-file and HTTP-API sources onto Kafka (python -m services.collector).
#   docker build -f deploy/docker/collector.Dockerfile -t tuneline/collector .      (from the repo root)
# BASE_IMAGE: any Debian-based image; Python 3.11+ comes from Debian when it has none (make images builds
# on the local tuneline/debian-base:bookworm). EXTRA_CA_CERTS: PEM text of a proxy's CA, build-time only.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS python
COPY deploy/docker/python-base.sh deploy/docker/with-build-ca.sh /usr/local/lib/tuneline/
RUN sh /usr/local/lib/tuneline/python-base.sh

# Dependencies only, from pyproject.toml: this layer is rebuilt when pyproject.toml changes, not the code.
FROM python AS builder
ARG UV_VERSION=0.13.8
ARG EXTRA_CA_CERTS=""
RUN sh /usr/local/lib/tuneline/python-base.sh builder
WORKDIR /src
COPY deploy/docker/install-deps.sh /usr/local/lib/tuneline/
COPY pyproject.toml ./
RUN sh /usr/local/lib/tuneline/install-deps.sh collector

FROM python
ARG VERSION=0.1.0
COPY --from=builder /opt/venv /opt/venv
COPY libs /app/libs
COPY services /app/services
COPY config /app/config
COPY examples /app/examples
COPY deploy/docker/healthcheck.py deploy/docker/init_stack.py deploy/docker/example-sources.yaml /app/deploy/docker/
# Bytecode compiled now: a read-only root filesystem cannot cache it at run time.
RUN /opt/venv/bin/python -m compileall -q /app
# Everything the service writes goes under TUNELINE_HOME (mount a volume there); the root can be read-only.
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HOME=/var/lib/tuneline TUNELINE_HOME=/var/lib/tuneline TUNELINE_SERVICE=collector \
    TUNELINE_CODE_VERSION="tuneline ${VERSION}"
LABEL org.opencontainers.image.title="tuneline-collector" \
      org.opencontainers.image.description="tuneline collector: SQL, log-file and HTTP sources onto Kafka" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/tuneline/tuneline"
WORKDIR /var/lib/tuneline
USER 10001:10001
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "/app/deploy/docker/healthcheck.py"]
ENTRYPOINT ["python", "-m", "services.collector"]
