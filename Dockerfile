# One image for api, worker and migrate: they differ only by command.
# The CUDA build of torch is installed first, from PyTorch's index, so that installing
# actlab (which pins torch==2.13.0) finds it satisfied and pulls nothing else.
FROM python:3.11-slim-bookworm

ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    ACTLAB_DATA_DIR=/data

WORKDIR /app
RUN pip install --no-cache-dir "torch==2.13.0" --index-url "${TORCH_INDEX}"

COPY pyproject.toml README.md ./
COPY activations ./activations
COPY api ./api
COPY core ./core
COPY worker ./worker
COPY cli ./cli
COPY migrations ./migrations
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 1000 actlab \
    && mkdir -p /data \
    && chown actlab:actlab /data

USER 1000
VOLUME ["/data"]
EXPOSE 8000
CMD ["actlab", "api", "--host", "0.0.0.0", "--port", "8000"]
