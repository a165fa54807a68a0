# kserve-swift as a container image for KServe (deploy/kserve/): two stages on Debian bookworm.
#   docker build -t ghcr.io/your-org/kserve-swift:latest . && docker push ghcr.io/your-org/kserve-swift:latest
# The entrypoint is kserve-master itself (under tini), so KServe's args (--model_name=... --model_dir=/mnt/models
# --http_port=8080) start it with no config file.

ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG ORT_VERSION=1.23.2
ARG ORT_WHEEL_SHA256=da44b99206e77734c5819aa2142c69e64f3b46edc3bd314f6a45a932defc0b3e

# The ONNX Runtime C library from the pinned PyPI wheel (as `make deps` fetches it), checksummed.
FROM python:3.11-slim-bookworm AS onnxruntime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG ORT_VERSION
ARG ORT_WHEEL_SHA256
WORKDIR /ort
RUN pip download --no-cache-dir --no-deps --only-binary=:all: "onnxruntime==${ORT_VERSION}" -d /ort \
 && echo "${ORT_WHEEL_SHA256}  $(ls /ort/onnxruntime-*.whl)" | sha256sum -c - \
 && python -c "import glob, zipfile; z = zipfile.ZipFile(glob.glob('/ort/*.whl')[0]); open('/ort/libonnxruntime.so', 'wb').write(z.read('onnxruntime/capi/libonnxruntime.so.${ORT_VERSION}'))"

# The Swagger UI files for /docs (enable_docs_url) from the pinned PyPI swagger-ui-bundle wheel (as `make deps`).
FROM python:3.11-slim-bookworm AS swaggerui
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG SWAGGER_UI_BUNDLE_VERSION=1.1.0
ARG SWAGGER_UI_BUNDLE_SHA256=f7526f7bb99923e10594c54247265839bec97e96b0438561ac86faf40d40dd57
WORKDIR /swagger
RUN pip download --no-cache-dir --no-deps --only-binary=:all: "swagger-ui-bundle==${SWAGGER_UI_BUNDLE_VERSION}" -d /swagger \
 && echo "${SWAGGER_UI_BUNDLE_SHA256}  $(ls /swagger/swagger_ui_bundle-*.whl)" | sha256sum -c - \
 && python -c "import glob, zipfile; z = zipfile.ZipFile(glob.glob('/swagger/*.whl')[0]); [open('/swagger/' + n, 'wb').write(z.read('swagger_ui_bundle/vendor/swagger-ui-4.15.5/' + n)) for n in ('swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png', 'favicon-16x16.png', 'oauth2-redirect.html')]; open('/swagger/LICENSE', 'wb').write(z.read('swagger_ui_bundle-${SWAGGER_UI_BUNDLE_VERSION}.dist-info/LICENSE'))" \
 && rm /swagger/*.whl

FROM ${SWIFT_IMAGE} AS build
# hadolint ignore=DL3008
RUN apt-get -q update && apt-get -q install -y --no-install-recommends libfcgi-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY nginx ./nginx
RUN swift build -c release --static-swift-stdlib --product kserve-master \
 && mkdir -p /staging/bin /staging/lib \
 && cp "$(swift build -c release --show-bin-path)/kserve-master" /staging/bin/ \
 && cp /usr/libexec/swift/linux/swift-backtrace-static /staging/bin/

FROM debian:bookworm-slim
# Exactly what the release binary links (libfcgi, zlib, the C/C++ runtime; Swift's own libraries are static), nginx for
# REST, tini as PID 1. Tests/e2e/test_deploy.py checks this list against ldd of the binary.
# hadolint ignore=DL3008
RUN apt-get -q update \
 && apt-get -q install -y --no-install-recommends libfcgi0ldbl libstdc++6 libgcc-s1 libc6 zlib1g nginx tini ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home kserve
COPY --from=build /staging/bin/ /usr/local/bin/
# Found by the binary as ../lib/libonnxruntime.so relative to /usr/local/bin/kserve-master.
COPY --from=onnxruntime /ort/libonnxruntime.so /usr/local/lib/libonnxruntime.so
# Found by the binary as ../share/kserve-swift/swagger-ui relative to /usr/local/bin/kserve-master (for /docs).
COPY --from=swaggerui /swagger/ /usr/local/share/kserve-swift/swagger-ui/
ENV SWIFT_BACKTRACE=enable=yes,sanitize=yes,threads=all,images=all,interactive=no,swift-backtrace=/usr/local/bin/swift-backtrace-static \
    TMPDIR=/tmp/kserve
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/kserve-master"]
