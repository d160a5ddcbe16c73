"""The lerobot policy runtime: what ``vla-bench setup lerobot`` installs for ``--agent lerobot:PATH``.

lerobot 0.6.1 (PyPI) requires Python >= 3.12, which the main environment (3.11) is not; its policies run in
this runtime's interpreter (:mod:`vla_bench.agents.lerobot_serve`) and answer the harness over the msgpack
websocket wire. The list is the complete resolution of ``lerobot==0.6.1 websockets==17.4 typer msgpack
pydantic imageio imageio-ffmpeg platformdirs`` on Python 3.12.1 (2026-12-04), every version pinned. torch is
PyPI's 2.11.0 build, which pulls the CUDA 13 libraries (about 5 GB installed, a few minutes from a fast
mirror): there is no CPU-only torch wheel for Python 3.12 on PyPI, and the policies run on the CPU when no
GPU is present. websockets, typer and the rest are what vla-bench's policy server imports in the runtime.
"""

from __future__ import annotations

from vla_bench.spec.runtime import RuntimeSpec

REQUIREMENTS: tuple[str, ...] = (
    "annotated-doc==0.0.7", "annotated-types==0.8.0", "anyio==4.16.0", "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3", "click==8.5.1", "cloudpickle==3.1.3", "cmake==4.1.3", "cuda-bindings==13.5.0",
    "cuda-pathfinder==1.9.1", "cuda-toolkit==13.0.2", "draccus==0.11.6", "einops==0.8.2",
    "Farama-Notifications==0.0.6", "filelock==4.3.2", "fsspec==2026.9.0", "gymnasium==1.4.0", "h11==0.16.0",
    "hf-xet==1.8.0", "httpcore==1.0.9", "httpx==0.29.0", "huggingface_hub==1.33.0", "idna==3.20", "ImageIO==2.38.2",
    "imageio-ffmpeg==0.8.1", "Jinja2==3.1.6", "lerobot==0.6.1", "markdown-it-py==4.3.0", "MarkupSafe==3.0.4",
    "mdurl==0.1.2", "mergedeep==1.3.4", "mpmath==1.3.0", "msgpack==1.2.4", "mypy_extensions==1.2.0", "networkx==3.7",
    "numpy==2.2.6", "nvidia-cublas==13.1.0.3", "nvidia-cuda-cupti==13.0.85", "nvidia-cuda-nvrtc==13.0.88",
    "nvidia-cuda-runtime==13.0.96", "nvidia-cudnn-cu13==9.19.0.56", "nvidia-cufft==12.0.0.61",
    "nvidia-cufile==1.15.1.6", "nvidia-curand==10.4.0.35", "nvidia-cusolver==12.0.4.66", "nvidia-cusparse==12.6.3.3",
    "nvidia-cusparselt-cu13==0.8.0", "nvidia-nccl-cu13==2.28.9", "nvidia-nvjitlink==13.0.88",
    "nvidia-nvshmem-cu13==3.4.5", "nvidia-nvtx==13.0.85", "opencv-python-headless==4.13.0.92", "packaging==25.0",
    "pillow==12.3.0", "platformdirs==4.14.9", "pydantic==2.14.4", "pydantic_core==2.50.5", "Pygments==2.21.0",
    "PyYAML==6.0.4", "requests==2.34.2", "rich==15.0.0", "safetensors==0.8.0", "setuptools==81.0.0",
    "shellingham==1.5.4", "sympy==1.14.0", "termcolor==3.3.0", "toml==0.10.2", "torch==2.11.0", "torchvision==0.26.0",
    "tqdm==4.70.1", "triton==3.6.0", "typer==0.29.2", "typing-inspect==0.9.0", "typing-inspection==0.4.5",
    "typing_extensions==4.16.0", "urllib3==2.8.0", "websockets==17.4",
)

RUNTIME = RuntimeSpec(
    name="lerobot",
    requirements=REQUIREMENTS,
    python=">=3.12,<3.13",  # lerobot >= 0.5 needs 3.12; resolved and tested on 3.12.1
    imports=("lerobot", "lerobot.policies.factory", "torch", "safetensors", "websockets", "typer", "msgpack",
             "pydantic"),
    env={"OMP_NUM_THREADS": "1"},  # one policy server beside the env workers: do not oversubscribe the cores
    user_provided="a LeRobot checkpoint folder (config.json, model.safetensors, policy_pre/postprocessor files); "
                  "a hub id is fetched only where the network allows",
)
