# One image for api, worker and migrate: they differ only by command.
# The CUDA build of torch is installed first, from PyTorch's index, so that installing
# actlab (which pins torch==2.13.0) finds it satisfied and pulls nothing else.

# The fused CPU activation kernels, compiled here so that the image needs no compiler:
# x86-64-v3 (AVX2, FMA) for any host since 2015; activations/native.py loads it from
# ACTLAB_KERNEL_LIBRARY when the CPU has those features, else uses PyTorch's operations.
FROM python:3.11-slim-bookworm AS kernels
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY activations/kernels.c activations/kernels_impl.h /src/
RUN gcc -O3 -march=x86-64-v3 -fno-math-errno -ffp-contract=off -fopenmp -fPIC -shared \
    /src/kernels.c -o /opt/libactlab_kernels.so -lm

FROM python:3.11-slim-bookworm

ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    ACTLAB_DATA_DIR=/data \
    ACTLAB_KERNEL_LIBRARY=/opt/actlab/libactlab_kernels.so

WORKDIR /app
# the kernels' OpenMP runtime
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=kernels /opt/libactlab_kernels.so /opt/actlab/libactlab_kernels.so
RUN pip install --no-cache-dir "torch==2.13.0" --index-url "${TORCH_INDEX}"

COPY pyproject.toml README.md ./
COPY activations ./activations
COPY api ./api
COPY core ./core
COPY worker ./worker
COPY cli ./cli
COPY migrations ./migrations
# The command line's client is the notebook client's distribution (clients/python).
COPY clients/python ./clients/python
RUN pip install --no-cache-dir . ./clients/python \
    && useradd --create-home --uid 1000 actlab \
    && mkdir -p /data \
    && chown actlab:actlab /data

USER 1000
VOLUME ["/data"]
EXPOSE 8000
CMD ["actlab", "api", "--host", "0.0.0.0", "--port", "8000"]
