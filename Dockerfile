# partnersync: one image for every role (see docker-compose.yml).
#
#   docker run --rm partnersync:local demo               # the embedded end-to-end demo
#   docker run partnersync:local api | scheduler | run | db upgrade | sandbox ...
#   docker run --entrypoint dramatiq partnersync:local worker --processes 2
#
# Settings: /app/settings.toml (the embedded defaults), overridden by PARTNERSYNC_*
# environment variables (PARTNERSYNC_STORE__URL, PARTNERSYNC_QUEUE__BROKER, ...).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PARTNERSYNC_SETTINGS=/app/settings.toml

WORKDIR /app

# The dependencies first, in a layer of their own: a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; f = open('pyproject.toml', 'rb'); print('\n'.join(tomllib.load(f)['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Everything the commands read: the packages, the dramatiq entry point (worker.py), the
# settings, the mappings they name (relative to settings.toml) and the demo's examples.
COPY README.md settings.toml worker.py ./
COPY rules ./rules
COPY connectors ./connectors
COPY sandbox ./sandbox
COPY sync ./sync
COPY mappings ./mappings
COPY examples ./examples

# Editable: the code runs from /app, where `partnersync demo` finds ../mappings and
# ../examples beside the sync package, and `dramatiq worker` imports worker.py.
RUN pip install --no-deps --editable . \
 && python -m compileall -q rules connectors sandbox sync worker.py \
 && useradd --system --no-create-home --home-dir /app partnersync \
 && chown partnersync:partnersync /app

# /app itself is writable (the embedded default store, sqlite:///partnersync.db); the code is not.
USER partnersync

EXPOSE 8000 8787
ENTRYPOINT ["partnersync"]
CMD ["--help"]
