# kemu's image: one image for every component; compose.yaml picks the command.
#
# With a registry:   docker build -t kemu:local .
# Offline:           scripts/build-image-offline.sh
#                    (a Debian base made with debootstrap and `docker import`,
#                    kemu and its dependencies installed from wheels built on
#                    the host into deploy/wheels; no network inside the build)
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONUNBUFFERED=1 \
    KEMU_LOG_FORMAT=json \
    PATH=/opt/kemu/bin:$PATH

COPY . /src
RUN python3 -m venv /opt/kemu \
 && if ls /src/deploy/wheels/*.whl >/dev/null 2>&1; then \
      /opt/kemu/bin/pip install --no-index --find-links /src/deploy/wheels kemu; \
    else \
      /opt/kemu/bin/pip install /src; \
    fi \
 && rm -rf /src /root/.cache

WORKDIR /var/lib/kemu
CMD ["kemu", "--help"]
