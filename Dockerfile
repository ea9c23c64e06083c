# chargestream worker image. Build: docker build -t chargestream .
# Multi-stage: wheels are built in the first stage, the runtime stage has no compiler.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY agents ./agents
COPY infra ./infra
RUN pip wheel --no-cache-dir -c constraints.txt -w /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 chargestream
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER chargestream
WORKDIR /home/chargestream
ENV CHARGESTREAM_DATA_DIR=/home/chargestream/data \
    CHARGESTREAM_WEB_HOST=0.0.0.0
EXPOSE 6066
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6066/', timeout=4)"
CMD ["python", "-m", "agents", "worker", "--loglevel", "info"]
