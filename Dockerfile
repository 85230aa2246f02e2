# mediaplane: one image for `serve` (default), `worker` and `migrate`; settings by environment
# (MEDIAPLANE__CORE__DATABASE_URL=..., see docs/configuration.md). Guide: docs/deployment.md.
#
# BASE may be any Debian-like image with python3 (3.11+) and its venv module: python:3.11-slim by
# default, or a debootstrap-built Debian bookworm (what scripts/check-image uses where no image
# registry is reachable).
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
LABEL org.mediaplane.stage=build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# A C compiler (and Python's headers where the base lacks them) for the rtcstats parser modules
# that setup.py compiles with Cython; they stay in this build stage.
RUN pkgs="gcc libc6-dev" \
 && python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    || pkgs="$pkgs python3-dev" \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs \
 && rm -rf /var/lib/apt/lists/*
# ca-certificates.crt is optional (the glob matches nothing when it is absent): behind a proxy that
# re-signs TLS, pip needs the host's CA bundle. It lives only in this build stage.
COPY setup.cfg ca-certificates.cr[t] /src/
# Dependencies first, in a layer of their own, so that a code change does not download them again.
RUN python3 -m venv /opt/mediaplane \
 && if [ -f ca-certificates.crt ]; then export PIP_CERT=/src/ca-certificates.crt; fi \
 && python3 -c 'import configparser; c = configparser.ConfigParser(); c.read("setup.cfg"); \
print("\n".join(r for r in c["options"]["install_requires"].split("\n") if r.strip()))' > requirements.txt \
 && /opt/mediaplane/bin/pip install --quiet -r requirements.txt
COPY . /src
RUN if [ -f ca-certificates.crt ]; then export PIP_CERT=/src/ca-certificates.crt; fi \
 && /opt/mediaplane/bin/pip install --quiet --no-deps /src \
 && /opt/mediaplane/bin/pip check

FROM ${BASE}
# ffmpeg decodes recordings for the transcription jobs (any container to 16 kHz mono PCM).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
# A fixed uid/gid, so that volumes keep their owner across rebuilds.
RUN groupadd --system --gid 10001 mediaplane \
 && useradd --system --uid 10001 --gid mediaplane --home-dir /var/lib/mediaplane --no-create-home \
      --shell /usr/sbin/nologin mediaplane \
 && mkdir -p /var/lib/mediaplane \
 && chown mediaplane:mediaplane /var/lib/mediaplane
COPY --from=build /opt/mediaplane /opt/mediaplane
ENV PATH=/opt/mediaplane/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MEDIAPLANE__CORE__DATA_DIR=/var/lib/mediaplane \
    MEDIAPLANE__CORE__SERVER__HOST=0.0.0.0 \
    MEDIAPLANE__CORE__SERVER__PORT=8180
USER mediaplane
WORKDIR /var/lib/mediaplane
# SQLite file, embedded Redis, stored objects and server.key when no external service is configured.
VOLUME ["/var/lib/mediaplane"]
EXPOSE 8180
# /readyz: database, Redis and migrations. Only `serve` answers it: worker and migrate containers
# run with the health check disabled (compose.yaml, scripts/check-image).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD python3 -c 'import os, urllib.request; urllib.request.urlopen("http://127.0.0.1:%s/readyz" % os.environ.get("MEDIAPLANE__CORE__SERVER__PORT", "8180"), timeout=4)'
ENTRYPOINT ["mediaplane"]
CMD ["serve"]
