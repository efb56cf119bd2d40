# Build: a static binary.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/pangeo-forge/deploy-action/internal/cli.Version=${VERSION}" \
      -o /deploy-action ./cmd/deploy-action

# Run: distroless static (CA certificates, no shell). Root, as GitHub's container actions expect.
FROM gcr.io/distroless/static-debian12
COPY --from=build /deploy-action /deploy-action
ENTRYPOINT ["/deploy-action"]
