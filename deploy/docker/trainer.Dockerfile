# tuneline trainer: admin API, threshold scheduler and fine-tuning runs (python -m services.trainer).
# Built on tuneline/models (deploy/docker/models.Dockerfile), whose models stack and base model it shares
# with the other images built on it (trainer, evaluator, server); this one adds Ray Train, DeepSpeed and the API server:
#   docker build -f deploy/docker/models.Dockerfile -t tuneline/models .
#   docker build -f deploy/docker/trainer.Dockerfile -t tuneline/trainer .
# GPU workers: build tuneline/models on a CUDA base (see models.Dockerfile) and pass it as MODELS_IMAGE.
ARG MODELS_IMAGE=tuneline/models:latest
FROM ${MODELS_IMAGE}
ARG VERSION=0.1.0
ARG EXTRA_CA_CERTS=""
# trainer, or kuberay for the image the chart's KubeRay backend runs (scripts/build-images.sh builds it
# as tuneline/trainer-kuberay): the trainer plus ray[default].
ARG TRAINER_EXTRA=trainer
# Only what that extra needs beyond the models stack (the venv's packages keep their versions).
COPY pyproject.toml /tmp/build/
RUN cd /tmp/build && sh /usr/local/lib/tuneline/install-deps.sh "${TRAINER_EXTRA}" && rm -rf /tmp/build
COPY libs /app/libs
COPY services /app/services
COPY config /app/config
COPY examples /app/examples
COPY deploy/docker/healthcheck.py deploy/docker/init_stack.py deploy/docker/example-sources.yaml /app/deploy/docker/
RUN /opt/venv/bin/python -m compileall -q /app
# The admin API listens on every interface of the container (the service's default is loopback).
# Ray keeps its session files under /tmp: give it a tmpfs when the root filesystem is read-only.
ENV TUNELINE_SERVICE=trainer TUNELINE_TRAINER_HTTP_HOST=0.0.0.0 TUNELINE_CODE_VERSION="tuneline ${VERSION}"
LABEL org.opencontainers.image.title="tuneline-trainer" \
      org.opencontainers.image.description="tuneline trainer: admin API, scheduler, Ray Train fine-tuning" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/tuneline/tuneline"
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "/app/deploy/docker/healthcheck.py"]
ENTRYPOINT ["python", "-m", "services.trainer"]
