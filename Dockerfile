# Foresight: `foresight serve` (the adapter) and `foresight nvml-exporter` from one image.
# The install is the README's: pip install -c constraints.txt . into a virtual environment.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY adapter ./adapter
COPY forecasting ./forecasting
RUN python -m venv /opt/foresight
RUN /opt/foresight/bin/pip install -c constraints.txt .

FROM python:3.11-slim
# A numeric user, so that the kubelet can verify runAsNonRoot without reading /etc/passwd; the
# manifests run as the same UID.
RUN groupadd --system --gid 10001 foresight \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin foresight
COPY --from=build /opt/foresight /opt/foresight
# The root filesystem is read-only in the cluster: no bytecode written at run time (pip compiled
# it at install).
ENV PATH=/opt/foresight/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 6443 9443 9400
ENTRYPOINT ["foresight"]
CMD ["--help"]
