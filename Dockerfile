# syntax=docker/dockerfile:1
#
# The container image of Verdict: one static binary on a distroless base,
# running as an unprivileged user.
#
#   docker build -t verdict .
#   docker build --build-arg VERSION=v1.2.3 -t verdict:v1.2.3 .
#   docker run --rm -p 3000:3000 -p 9421:9421 verdict
#
# The image's configuration is /etc/verdict/verdict.yaml
# (deploy/docker/verdict.yaml); mount a directory over /etc/verdict to
# serve your own. deploy/deploy_test.go checks this file without Docker.

ARG GO_VERSION=1.26

# The build runs on the builder's platform and cross-compiles for the
# target, so a multi-platform build (docker buildx --platform
# linux/amd64,linux/arm64) needs no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG TARGETOS TARGETARCH
ARG VERSION=""
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/verdict ./cmd/verdict

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/verdict /usr/local/bin/verdict
COPY deploy/docker/verdict.yaml /etc/verdict/verdict.yaml
COPY examples/rethink/policies.json /etc/verdict/rethink/policies.json
COPY examples/authz/proxy.yaml examples/authz/authzen.yaml /etc/verdict/authz/
COPY examples/pexip/demo.yaml /etc/verdict/pexip/demo.yaml
USER 65532:65532
# 3000: policy listener; 9421: admin listener; 8080: the gateway listener,
# opened only when the configuration has services.
EXPOSE 3000 9421 8080
ENTRYPOINT ["/usr/local/bin/verdict", "serve"]
CMD ["--config", "/etc/verdict/verdict.yaml", "--log-format", "json"]
