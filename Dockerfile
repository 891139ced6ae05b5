# One image for every casework service; docker-compose.yml picks the service per container.
# Two stages. The builder checks every download against a hash the locks pin (uv, the runtime
# dependencies, the setuptools that builds casework) and installs the runtime dependencies
# and the casework wheel into /opt/venv. The runtime image holds that venv and nothing else of
# the build: no pip, no uv, no test or lint tools, no caches. It is owned by root and read-only
# for the non-root user (uid 10001) that runs the app, who may write only under /app/.local.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    UV_NO_CACHE=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
# The venv's python is a link to /usr/local/bin/python3, which the runtime stage has too.
WORKDIR /src
COPY requirements-bootstrap.lock requirements-runtime.lock requirements-build.lock ./
# Runtime dependencies only (requirements.lock, with the test tools, stays out), wheels only.
RUN pip install -q --require-hashes --no-deps --only-binary :all: -r requirements-bootstrap.lock && \
    uv venv -q --python /usr/local/bin/python3 /opt/venv && \
    uv pip sync -q --require-hashes --no-build --python /opt/venv/bin/python requirements-runtime.lock
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
COPY casework ./casework
RUN uv build -q --wheel --out-dir /src/dist --build-constraints requirements-build.lock --require-hashes . && \
    uv pip install -q --no-deps --no-index --python /opt/venv/bin/python /src/dist/casework-*.whl

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    CASEWORK_HTTP_HOST=0.0.0.0
# The base image's own pip, setuptools and wheel go too: nothing installs anything at run time
# (and the `python` on PATH is the venv's, which never had them). /app/.local holds what the
# app writes (development keys and credentials, the sink's outbox); its subdirectories exist
# so that compose's named volumes mounted there start out owned by casework.
RUN /usr/local/bin/python -m pip uninstall -q -y pip setuptools wheel && \
    groupadd --system --gid 10001 casework && \
    useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin casework && \
    install -d -o root -g root -m 0755 /app && \
    install -d -o 10001 -g 10001 -m 0700 /app/.local /app/.local/outbox /app/.local/vault-reader \
        /app/.local/disclosure
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001

CMD ["casework", "--help"]
