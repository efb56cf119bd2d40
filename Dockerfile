# deploy-action's image: one static Go binary on distroless. The release workflow builds it for
# linux/amd64 and linux/arm64 and pushes it to ghcr.io/pangeo-forge/deploy-action; action.yml names
# that prebuilt image, so a workflow run pulls ~15 MB instead of compiling for minutes (RELEASE.md).
#
# Base images are pinned by the digest of their multi-platform index (not of one platform's
# manifest, which would build one architecture and fail the other). To refresh a pin, resolve the
# tag's index digest and replace it here, in a reviewed pull request:
#   docker buildx imagetools inspect golang:1.26.8 --format '{{json .Manifest.Digest}}'
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12 --format '{{json .Manifest.Digest}}'
# (or `crane digest <image>`). Keep the golang tag at least the go directive of go.mod: the official
# image sets GOTOOLCHAIN=local and refuses to build a module that asks for a newer Go.

# The build stage runs on the builder's own platform and cross-compiles: with CGO_ENABLED=0 Go needs
# no emulation to produce the arm64 binary.
FROM --platform=$BUILDPLATFORM golang:1.26.8@sha256:6c2a5538f964f1c82f97ad14988bf05de100d922d159d0e398b54c7b0ca0c6c9 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
# -trimpath and -buildvcs=false keep host paths and VCS state out of the binary; -s -w strip it.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/pangeo-forge/deploy-action/internal/cli.Version=${VERSION}" \
      -o /out/deploy-action ./cmd/deploy-action

# distroless static: CA certificates (for api.heroku.com, api.github.com and AWS KMS), tzdata,
# /etc/passwd and a world-writable /tmp for the source tarball; no shell, no package manager.
FROM gcr.io/distroless/static-debian12@sha256:d75cdd72874d4790092fcb1b058493ecf6bb5bf2b2b897045b00ff01d91843f2
ARG VERSION=dev
LABEL org.opencontainers.image.source="https://github.com/pangeo-forge/deploy-action" \
      org.opencontainers.image.description="Deploys a Heroku pipeline from GitHub Actions with SOPS-encrypted config vars" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/deploy-action /deploy-action
# Root, as GitHub's guidance for container actions asks: the runner mounts the workspace and
# /github/file_commands owned by the runner user, and writes to them need root inside the container.
USER 0:0
ENTRYPOINT ["/deploy-action"]
