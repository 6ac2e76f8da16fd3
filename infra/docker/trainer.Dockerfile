# The trainer as a Lambda container image: the same functions/train.ts handler as the zip, on @tensorflow/tfjs-node
# (native TensorFlow, multi-threaded) instead of the wasm backend. Built by `cdk deploy -c trainer=image`, which
# needs a Docker engine; by hand, from the repository root:
#   docker build --platform linux/amd64 -f infra/docker/trainer.Dockerfile .
# The build context is the repository root; trainer.Dockerfile.dockerignore (next to this file) keeps it small.
#
# linux/amd64 only: tfjs-node's install script downloads a prebuilt libtensorflow, published for Linux x86-64 but
# not for Linux arm64. The stack deploys this function as x86_64 accordingly.
#
# Node 22, not 24 like the zip functions: tfjs-node 4.22.0 (its latest release) calls util.isNullOrUndefined, which
# Node 23 removed (tensorflow/tfjs#8609). Keep NODE_MAJOR equal to IMAGE_NODE_TARGET in infra/lib/bundle-options.ts.
ARG NODE_MAJOR=22

# The bundle is plain JavaScript: build it natively even when the target platform is emulated.
FROM --platform=$BUILDPLATFORM public.ecr.aws/lambda/nodejs:${NODE_MAJOR} AS bundle
WORKDIR /build
COPY package.json package-lock.json ./
# Scripts off: this stage only needs esbuild and the sources; tfjs-node's libtensorflow download happens below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY shared ./shared
COPY functions ./functions
COPY infra/lib/bundle-options.ts ./infra/lib/
COPY infra/docker ./infra/docker
RUN npx tsx infra/docker/bundle-trainer.ts /build/dist

FROM public.ecr.aws/lambda/nodejs:${NODE_MAJOR}
WORKDIR ${LAMBDA_TASK_ROOT}
# The image's own lock file pins tfjs-node's whole dependency tree; `npm ci` installs exactly that or fails.
# tfjs-node's install script then fetches libtensorflow and its addon.
COPY infra/docker/image/package.json infra/docker/image/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=bundle /build/dist/ ./
ENV FLAMBDA_BACKEND=tensorflow \
    NODE_OPTIONS=--enable-source-maps
CMD ["index.handler"]
