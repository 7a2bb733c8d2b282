# One image for the operator (`vwclass operator`, the default) and the per-student data endpoint
# (`python -m vwclass.dataendpoint`). Every dependency ships wheels for amd64 and arm64, so the
# build stage needs no compiler and the same file builds both architectures.
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
RUN python -m venv /opt/vwclass
COPY pyproject.toml README.md ./
COPY vwclass ./vwclass
COPY crds ./crds
COPY manifests ./manifests
RUN /opt/vwclass/bin/pip install --no-cache-dir --no-compile .

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
