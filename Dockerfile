FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md worker.py settings.toml ./
COPY sync ./sync
COPY connectors ./connectors
COPY sandbox ./sandbox
COPY rules ./rules
COPY mappings ./mappings
RUN pip install --no-cache-dir .
ENTRYPOINT ["partnersync"]
