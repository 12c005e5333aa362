# tuneline evaluator: evaluates, gates and promotes every new model (python -m services.evaluator).
# Built on tuneline/models (deploy/docker/models.Dockerfile), whose models stack and base model it shares
# with the other images built on it (trainer, evaluator, server); this one adds the PII detector (Presidio, spaCy), ROUGE and matplotlib:
#   docker build -f deploy/docker/models.Dockerfile -t tuneline/models .
#   docker build -f deploy/docker/evaluator.Dockerfile -t tuneline/evaluator .
ARG MODELS_IMAGE=tuneline/models:latest
FROM ${MODELS_IMAGE}
ARG VERSION=0.1.0
ARG EXTRA_CA_CERTS=""
# Only what the evaluator extra needs beyond the models stack (the venv's packages keep their versions).
COPY pyproject.toml /tmp/build/
RUN cd /tmp/build && sh /usr/local/lib/tuneline/install-deps.sh evaluator && rm -rf /tmp/build
COPY libs /app/libs
COPY services /app/services
COPY config /app/config
COPY examples /app/examples
COPY deploy/docker/healthcheck.py deploy/docker/init_stack.py deploy/docker/example-sources.yaml /app/deploy/docker/
RUN /opt/venv/bin/python -m compileall -q /app
ENV TUNELINE_SERVICE=evaluator TUNELINE_CODE_VERSION="tuneline ${VERSION}"
LABEL org.opencontainers.image.title="tuneline-evaluator" \
      org.opencontainers.image.description="tuneline evaluator: metrics, gates, promotion, continuous evaluation" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/tuneline/tuneline"
USER 10001:10001
EXPOSE 8084
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "/app/deploy/docker/healthcheck.py"]
ENTRYPOINT ["python", "-m", "services.evaluator"]
