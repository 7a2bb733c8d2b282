# One image for the operator (`vwclass operator`, the default) and the per-student data endpoint
# (`python -m vwclass.dataendpoint`). Every dependency ships wheels for amd64 and arm64, so the
# build stage needs no compiler and the same file builds both architectures.
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
# Every dependency at the version and hash requirements/image.lock names (`make lock` writes it),
# installed before the source is copied so that a code change reuses this layer.
COPY requirements/image.lock requirements/build.lock ./requirements/
RUN python -m venv /opt/vwclass \
 && /opt/vwclass/bin/pip install --no-cache-dir --no-compile --require-hashes -r requirements/image.lock \
 && pip install --no-cache-dir --require-hashes -r requirements/build.lock
COPY pyproject.toml README.md ./
COPY vwclass ./vwclass
COPY crds ./crds
COPY manifests ./manifests
# The wheel is built by the locked hatchling (no unpinned build backend is fetched) and adds no dependency.
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /tmp/dist . \
 && /opt/vwclass/bin/pip install --no-cache-dir --no-compile --no-deps /tmp/dist/*.whl

FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.title="vwclass" \
      org.opencontainers.image.description="Classrooms of virtual Waggle nodes on Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 vwclass \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin vwclass
COPY --from=build /opt/vwclass /opt/vwclass
ENV PATH=/opt/vwclass/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["vwclass"]
CMD ["operator"]
