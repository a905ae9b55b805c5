# The controller image: `landinggear run` from a virtualenv, as UID 65532, on a
# read-only root filesystem.
#
# Both bases are build arguments, and must be the same Python (same version, same
# interpreter path): the virtualenv built in the first stage points at the
# interpreter it was made with. Tested here with both set to a plain Debian bookworm
# built by `python -m e2e.image` (python3, python3-venv, python3-pip,
# ca-certificates and nothing else): no registry is reachable from this project's
# machines, so the default below has never been pulled by its tests.
#
# The default is pinned by digest. The digest is the one Docker printed for
# python:3.11-slim-bookworm on 2024-04-25 in docker-library/python issue #923
# (a maintainer's `docker run --pull=always`; Debian 12.5): cited, not checked
# here, and old. Bump it to the current digest of the tag where you build.
ARG BUILD_BASE=docker.io/library/python:3.11-slim-bookworm@sha256:6d2502238109c929569ae99355e28890c438cb11bc88ef02cd189c173b3db07c
ARG RUNTIME_BASE=docker.io/library/python:3.11-slim-bookworm@sha256:6d2502238109c929569ae99355e28890c438cb11bc88ef02cd189c173b3db07c

FROM ${BUILD_BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/landinggear
# Every dependency, and the build backend, pinned with its hashes (`make lock`).
# Behind a TLS-inspecting proxy, give pip the CA bundle that trusts it as the
# build secret `pip-ca` (`--secret id=pip-ca,src=…`): it is used, never stored.
COPY requirements.lock /src/
RUN --mount=type=secret,id=pip-ca \
    if [ -f /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi; \
    /opt/landinggear/bin/pip install --require-hashes --only-binary=:all: \
        -r /src/requirements.lock
COPY pyproject.toml README.md /src/
COPY controller /src/controller
# The project itself with the locked backend, nothing fetched; then no installer is
# left in the virtualenv (pip compiled every module, so nothing is written at run time).
RUN /opt/landinggear/bin/pip install --no-deps --no-index --no-build-isolation /src \
    && /opt/landinggear/bin/pip uninstall --yes setuptools pip

FROM ${RUNTIME_BASE}
# No installer in the final image either: the base's own pip (python:slim's, or
# Debian's python3-pip) goes, with setuptools (and its pkg_resources) and wheel. The base's shell stays: it
# is part of the base (Debian's dash is Essential); a runtime with no shell needs a
# base without one (README: Install on a cluster, the image).
RUN set -e; \
    for site in $(python3 -c "import site; print(' '.join(site.getsitepackages()))"); do \
        cd "$site" 2>/dev/null || continue; \
        rm -rf pip pip-*-info setuptools setuptools-*-info wheel wheel-*-info \
            pkg_resources _distutils_hack distutils-precedence.pth; \
    done; \
    rm -f /usr/local/bin/pip /usr/local/bin/pip3* /usr/bin/pip /usr/bin/pip3*
COPY --from=build /opt/landinggear /opt/landinggear
ENV PATH=/opt/landinggear/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
ENTRYPOINT ["/opt/landinggear/bin/landinggear"]
CMD ["run"]
