# The trainer as a Lambda container image: the same functions/train.ts handler as the zip, on @tensorflow/tfjs-node
# (native TensorFlow, multi-threaded) instead of the wasm backend. Built by `cdk deploy -c trainer=image`, which
# needs a Docker engine; by hand, from the repository root:
#   docker build --platform linux/amd64 -f infra/docker/trainer.Dockerfile .
# The build context is the repository root; trainer.Dockerfile.dockerignore (next to this file) keeps it small.
#
# linux/amd64 only: tfjs-node's install script downloads a prebuilt libtensorflow, published for Linux x86-64 but
# not for Linux arm64. The stack deploys this function as x86_64 accordingly.
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
COPY --from=bundle /build/dist/ ./
# Installs the pinned @tensorflow packages; tfjs-node's install script fetches libtensorflow and its addon.
RUN npm install --omit=dev --no-package-lock --no-audit --no-fund && npm cache clean --force
ENV FLAMBDA_BACKEND=tensorflow \
    NODE_OPTIONS=--enable-source-maps
CMD ["index.handler"]
