"""Model loading: the tiny model on disk, single files, the hub cache, and every failure path.

Nothing here touches the network: conftest sets HF_HUB_OFFLINE before diffusers is imported,
and the hub tests build a fake Hugging Face cache in tmp_path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from generation import checkpoints, model_sources
from generation.checkpoints import write_single_file
from generation.model_device import check_fits, estimate_bytes, pipeline_bytes
from generation.models import LoadedModel, load_model
from generation.tiny import make_tiny, sd15_config_dir
from generation.types import GenerationError, ModelError
from riffbot.cli import main as cli_main

FOLDER_WEIGHTS = {
    "unet": "unet/diffusion_pytorch_model.safetensors",
    "vae": "vae/diffusion_pytorch_model.safetensors",
    "text_encoder": "text_encoder/model.safetensors",
}


def _assert_same_weights(a: Any, b: Any) -> None:
    for component in ("unet", "vae", "text_encoder"):
        sa, sb = getattr(a, component).state_dict(), getattr(b, component).state_dict()
        assert sa.keys() == sb.keys(), component
        for key in sa:
            assert torch.equal(sa[key], sb[key]), f"{component}.{key}"


# --- the tiny model ---------------------------------------------------------------------


def test_loaded_weights_are_bit_identical_to_the_files_on_disk(
    tiny_model_session: LoadedModel, tiny_model_dir: Path
) -> None:
    for component, rel in FOLDER_WEIGHTS.items():
        on_disk = load_file(str(tiny_model_dir / rel))
        loaded = getattr(tiny_model_session.pipe, component).state_dict()
        assert len(on_disk) == len(loaded)
        for key, tensor in on_disk.items():
            assert torch.equal(loaded[key.removeprefix("text_model.")], tensor), key


def test_same_seed_rebuilds_the_same_model_and_the_cli_says_it_makes_noise(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "again"
    assert cli_main(["model", "make-tiny", str(out), "--seed", "0"]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed
    assert "noise, not music" in printed
    for rel in FOLDER_WEIGHTS.values():
        first, second = load_file(str(tiny_model_dir / rel)), load_file(str(out / rel))
        assert first.keys() == second.keys()
        assert all(torch.equal(first[k], second[k]) for k in first)
    # A second build into a folder that holds a model is refused, not overwritten.
    assert cli_main(["model", "make-tiny", str(out)]) == 1
    assert "already holds a model" in capsys.readouterr().err


def test_different_seed_gives_different_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    other = make_tiny(tmp_path / "seed1", seed=1)
    rel = FOLDER_WEIGHTS["unet"]
    a, b = load_file(str(tiny_model_dir / rel)), load_file(str(other / rel))
    assert not torch.equal(a["conv_in.weight"], b["conv_in.weight"])


def test_tiny_folder_has_riffusion_layout(tiny_model_dir: Path) -> None:
    index = json.loads((tiny_model_dir / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["scheduler"] == ["diffusers", "PNDMScheduler"]
    for rel in (
        *FOLDER_WEIGHTS.values(),
        "unet/config.json",
        "vae/config.json",
        "text_encoder/config.json",
        "scheduler/scheduler_config.json",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "tokenizer/tokenizer_config.json",
    ):
        assert (tiny_model_dir / rel).is_file(), rel


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        (
            "a photograph of an astronaut riding a horse",
            [49406, 320, 8853, 539, 550, 18376, 6765, 320, 4558, 49407],
        ),
        ("a photo of a cat", [49406, 320, 1125, 539, 320, 2368, 49407]),
        ("A   Diagram", [49406, 320, 22697, 49407]),
    ],
)
def test_tokenizer_matches_openai_clip(
    tiny_model_session: LoadedModel, text: str, ids: list[int]
) -> None:
    tokenizer = tiny_model_session.pipe.tokenizer
    assert tokenizer(text).input_ids == ids
    padded = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length)
    assert tokenizer.model_max_length == 77
    assert padded.input_ids[: len(ids)] == ids
    assert set(padded.input_ids[len(ids) :]) == {49407}


def test_scheduler_is_riffusions_pndm(tiny_model_session: LoadedModel) -> None:
    from diffusers import PNDMScheduler

    scheduler = tiny_model_session.pipe.scheduler
    assert isinstance(scheduler, PNDMScheduler)
    config = scheduler.config
    assert (config.beta_start, config.beta_end) == (0.00085, 0.012)
    assert config.beta_schedule == "scaled_linear"
    assert config.num_train_timesteps == 1000
    assert config.skip_prk_steps is True
    assert config.steps_offset == 1
    assert config.set_alpha_to_one is False


def test_loaded_model_metadata_and_attention(tiny_model: LoadedModel) -> None:
    from diffusers.models.attention_processor import AttnProcessor2_0

    assert tiny_model.is_tiny
    assert tiny_model.model_id == "tiny"
    assert tiny_model.device == torch.device("cpu")
    assert tiny_model.dtype == torch.float32
    assert tiny_model.pipe.safety_checker is None
    processors = {**tiny_model.pipe.unet.attn_processors, **tiny_model.pipe.vae.attn_processors}
    assert processors
    assert all(isinstance(p, AttnProcessor2_0) for p in processors.values())
    # 512x512 image <-> 64x64 latent, as in SD1.x.
    assert tiny_model.pipe.vae_scale_factor == 8
    assert tiny_model.pipe.unet.config.sample_size == 64
    # channels_last is only for CUDA (2.5x slower on CPU).
    weight = tiny_model.pipe.unet.conv_in.weight
    assert not weight.is_contiguous(memory_format=torch.channels_last) or weight.shape[-1] == 1


def test_tiny_is_built_on_first_use_into_the_cache(tmp_path: Path) -> None:
    loaded = load_model("tiny", cache_dir=tmp_path, device="cpu", progress=False)
    assert (tmp_path / "tiny" / "model_index.json").is_file()
    assert loaded.is_tiny


def test_bfloat16_and_compile_switches(tiny_model_dir: Path) -> None:
    loaded = load_model(
        str(tiny_model_dir), device="cpu", dtype="bf16", compile=True, progress=False
    )
    assert loaded.dtype == torch.bfloat16
    assert {p.dtype for p in loaded.pipe.unet.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in loaded.pipe.text_encoder.parameters()} == {torch.bfloat16}
    assert isinstance(loaded.pipe.unet, torch._dynamo.eval_frame.OptimizedModule)


# --- single files -----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_single_file_loads_offline_and_bit_identically(
    tiny_model_session: LoadedModel, tiny_model_dir: Path, tmp_path: Path, suffix: str
) -> None:
    path = write_single_file(tiny_model_dir, tmp_path / f"tiny{suffix}")
    info = checkpoints.inspect_checkpoint(path)
    assert all(
        k.startswith((checkpoints.UNET_PREFIX, checkpoints.VAE_PREFIX, checkpoints.TEXT_PREFIX))
        for k in info.shapes
    )
    loaded = load_model(str(path), device="cpu", cache_dir=tmp_path / "cache", progress=False)
    _assert_same_weights(loaded.pipe, tiny_model_session.pipe)
    assert loaded.is_tiny
    assert loaded.model_id == str(path.resolve())
    assert type(loaded.pipe.scheduler).__name__ == "PNDMScheduler"
    assert loaded.pipe.tokenizer("a photo of a cat").input_ids[2] == 1125


def test_ldm_keys_match_real_sd15_names() -> None:
    """With SD1.x's block layout the converter emits the key names real checkpoints use."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    unet_config = json.loads((sd15_config_dir() / "unet" / "config.json").read_text())
    unet_config.update(block_out_channels=[8, 16, 32, 32], norm_num_groups=8)
    unet_config.update(cross_attention_dim=16, attention_head_dim=2)
    vae_config = json.loads((sd15_config_dir() / "vae" / "config.json").read_text())
    vae_config.update(block_out_channels=[8, 16, 32, 32], norm_num_groups=8)
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(unet_config)
        vae = AutoencoderKL.from_config(vae_config)
    keys = set(checkpoints.unet_to_ldm(unet.state_dict(), unet_config))
    keys |= set(checkpoints.vae_to_ldm(vae.state_dict(), vae_config))
    real_sd15 = {
        "model.diffusion_model.time_embed.0.weight",
        "model.diffusion_model.input_blocks.0.0.weight",
        "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight",
        "model.diffusion_model.input_blocks.3.0.op.weight",
        "model.diffusion_model.input_blocks.4.0.skip_connection.weight",
        "model.diffusion_model.input_blocks.11.0.out_layers.3.weight",
        "model.diffusion_model.middle_block.1.proj_in.weight",
        "model.diffusion_model.middle_block.2.emb_layers.1.weight",
        "model.diffusion_model.output_blocks.2.1.conv.weight",
        "model.diffusion_model.output_blocks.5.2.conv.weight",
        "model.diffusion_model.output_blocks.8.2.conv.weight",
        "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.ff.net.2.weight",
        "model.diffusion_model.out.2.weight",
        "first_stage_model.encoder.down.0.downsample.conv.weight",
        "first_stage_model.encoder.down.1.block.0.nin_shortcut.weight",
        "first_stage_model.encoder.mid.attn_1.q.weight",
        "first_stage_model.encoder.norm_out.weight",
        "first_stage_model.decoder.up.0.block.2.conv1.weight",
        "first_stage_model.decoder.up.0.block.0.nin_shortcut.weight",
        "first_stage_model.decoder.up.3.upsample.conv.weight",
        "first_stage_model.decoder.mid.block_2.norm2.weight",
        "first_stage_model.quant_conv.weight",
        "first_stage_model.post_quant_conv.weight",
    }
    assert real_sd15 <= keys
    assert len(keys) == len(unet.state_dict()) + len(vae.state_dict())


def test_shipped_sd15_config_is_sd15_sized_and_complete(tmp_path: Path) -> None:
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTokenizer

    config = model_sources.sd15_config(tmp_path)
    unet_config = json.loads((config / "unet" / "config.json").read_text())
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(unet_config)
    assert sum(p.numel() for p in unet.parameters()) == 859_520_964
    tokenizer = CLIPTokenizer.from_pretrained(config / "tokenizer")
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    scheduler = json.loads((config / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["_class_name"] == "PNDMScheduler"
    assert model_sources.sd15_config(tmp_path) == config  # materialised once, then reused


def test_single_file_without_embedded_config_is_checked_against_sd15(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    path = write_single_file(tiny_model_dir, tmp_path / "bare.safetensors", embed_config=False)
    with pytest.raises(ModelError, match="width 16 but the config expects 320"):
        load_model(str(path), device="cpu", cache_dir=tmp_path / "cache", progress=False)
    # With a matching config folder it loads.
    loaded = load_model(
        str(path),
        device="cpu",
        cache_dir=tmp_path / "cache",
        config_dir=tiny_model_dir,
        progress=False,
    )
    assert loaded.pipe.unet.config.block_out_channels == (16, 16, 32, 32) or list(
        loaded.pipe.unet.config.block_out_channels
    ) == [16, 16, 32, 32]


# --- failures ---------------------------------------------------------------------------


def test_model_error_is_a_generation_error() -> None:
    assert issubclass(ModelError, GenerationError)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="There is no model at") as err:
        load_model(str(tmp_path / "nowhere" / "model.ckpt"), device="cpu", progress=False)
    assert "tiny" in str(err.value)


def test_folder_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no model_index\.json"):
        load_model(str(tmp_path), device="cpu", progress=False)


def test_folder_missing_weights_names_the_missing_piece(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    copy = Path(shutil.copytree(tiny_model_dir, tmp_path / "broken"))
    (copy / FOLDER_WEIGHTS["unet"]).unlink()
    with pytest.raises(ModelError, match=r"unet/diffusion_pytorch_model\.safetensors"):
        load_model(str(copy), device="cpu", progress=False)


def test_folder_with_truncated_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(tiny_model_dir, tmp_path / "truncated"))
    vae = copy / FOLDER_WEIGHTS["vae"]
    vae.write_bytes(vae.read_bytes()[: vae.stat().st_size // 2])
    with pytest.raises(ModelError, match="corrupt, truncated"):
        load_model(str(copy), device="cpu", progress=False)


def test_folder_with_wrong_keys_is_refused_not_random_initialised(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    copy = Path(shutil.copytree(tiny_model_dir, tmp_path / "renamed"))
    unet = copy / FOLDER_WEIGHTS["unet"]
    state = load_file(str(unet))
    dropped = sorted(state)[0]
    del state[dropped]
    save_file(state, str(unet))
    with pytest.raises(ModelError, match=f"lacks 1 unet weight.*{dropped}"):
        load_model(str(copy), device="cpu", progress=False)


def test_truncated_single_file(tiny_model_dir: Path, tmp_path: Path) -> None:
    path = write_single_file(tiny_model_dir, tmp_path / "cut.safetensors")
    path.write_bytes(path.read_bytes()[: path.stat().st_size - 1000])
    with pytest.raises(ModelError, match="truncated"):
        load_model(str(path), device="cpu", cache_dir=tmp_path, progress=False)


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_garbage_single_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(b"this is not a checkpoint at all" * 10)
    with pytest.raises(ModelError, match="corrupt"):
        load_model(str(path), device="cpu", cache_dir=tmp_path, progress=False)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["some.layer.weight"], "not a complete Stable Diffusion v1.x checkpoint"),
        (["conditioner.embedders.0.transformer.x"], "SDXL"),
        (["cond_stage_model.model.token_embedding.weight"], "2.x"),
        (["model.diffusion_model.input_blocks.0.0.weight"], r"no VAE \(first_stage_model"),
    ],
)
def test_non_sd1_checkpoints_are_named(tmp_path: Path, keys: list[str], message: str) -> None:
    path = tmp_path / "other.safetensors"
    save_file({k: torch.zeros(2, 2) for k in keys}, str(path))
    with pytest.raises(ModelError, match=message):
        load_model(str(path), device="cpu", cache_dir=tmp_path, progress=False)


class _Trap:
    """Unpickling this would touch a file; weights_only loading must refuse instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_ckpt_with_code_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "trap": _Trap(marker)}, path)
    assert not marker.exists()
    with pytest.raises(ModelError, match="refuses to unpickle"):
        load_model(str(path), device="cpu", cache_dir=tmp_path, progress=False)
    assert not marker.exists()


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = tmp_path / "model.txt"
    path.write_text("hello")
    with pytest.raises(ModelError, match=r"not a \.safetensors or \.ckpt"):
        load_model(str(path), device="cpu", progress=False)


@pytest.mark.parametrize("source", ["", "   ", "not a model!"])
def test_empty_or_nonsense_source(source: str) -> None:
    with pytest.raises(ModelError, match="tiny"):
        load_model(source, device="cpu", progress=False)


def test_hub_id_offline_fails_fast_with_alternatives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args: object, **kwargs: object) -> bool:
        raise AssertionError("the network must not be probed when HF_HUB_OFFLINE is set")

    monkeypatch.setattr(model_sources, "hub_reachable", no_network)
    with pytest.raises(ModelError, match="offline") as err:
        load_model("riffusion/riffusion-model-v1-test-absent", device="cpu", cache_dir=tmp_path)
    assert "tiny" in str(err.value)
    assert "folder" in str(err.value)


def test_hub_id_without_download_permission(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="downloading is turned off"):
        load_model(
            "riffusion/riffusion-model-v1-test-absent",
            device="cpu",
            cache_dir=tmp_path,
            allow_download=False,
        )


def test_hub_id_loads_from_the_local_cache(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A snapshot in the Hugging Face cache layout loads offline as a folder, with its commit."""
    repo = tmp_path / "models--someone--riffy"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    loaded = load_model("someone/riffy", device="cpu", cache_dir=tmp_path, progress=False)
    assert loaded.model_id == "someone/riffy"
    assert loaded.revision == commit
    assert type(loaded.pipe.scheduler).__name__ == "PNDMScheduler"


def test_an_interrupted_hub_download_is_resumed_not_reported_forever(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during the first download leaves model_index.json but not the UNet in the cache;
    online, the next start must download again instead of failing on the cached copy."""
    repo = tmp_path / "models--someone--riffy"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = Path(shutil.copytree(tiny_model_dir, repo / "snapshots" / commit))
    (snapshot / FOLDER_WEIGHTS["unet"]).unlink()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    with pytest.raises(ModelError, match="incomplete"):  # offline: say what is missing
        load_model("someone/riffy", device="cpu", cache_dir=tmp_path, progress=False)

    downloads: list[str] = []

    def download(repo_id: str, revision: str | None, hub_cache: Path | None) -> tuple[Path, str]:
        downloads.append(repo_id)
        shutil.copy(tiny_model_dir / FOLDER_WEIGHTS["unet"], snapshot / FOLDER_WEIGHTS["unet"])
        return snapshot, commit

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(model_sources, "hub_reachable", lambda: True)
    monkeypatch.setattr(model_sources, "_download", download)
    loaded = load_model("someone/riffy", device="cpu", cache_dir=tmp_path, progress=False)
    assert downloads == ["someone/riffy"]
    assert loaded.revision == commit


def test_too_big_for_memory_is_refused_before_loading(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_sources, "available_memory", lambda device: 1024)
    with pytest.raises(ModelError, match=r"needs about .* GiB on cpu"):
        load_model(str(tiny_model_dir), device="cpu", progress=False)


def test_training_checkpoint_is_sized_by_what_loads_not_by_its_file(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full .ckpt files also hold EMA weights (riffusion-model-v1.ckpt is 14 GB): only the
    pipeline's weights count against memory."""
    slim = write_single_file(tiny_model_dir, tmp_path / "slim.ckpt")
    payload = torch.load(slim, weights_only=True)
    state = payload["state_dict"]
    for key in list(state):  # an EMA copy of every weight, under keys nothing loads
        state["model_ema." + key.replace(".", "")] = state[key].clone()
    full = tmp_path / "full.ckpt"
    torch.save(payload, full)
    needed = pipeline_bytes(checkpoints.inspect_checkpoint(full), torch.float32)
    assert needed == pipeline_bytes(checkpoints.inspect_checkpoint(slim), torch.float32)
    assert full.stat().st_size > 1.5 * needed
    monkeypatch.setattr(model_sources, "available_memory", lambda device: int(1.2 * needed))
    loaded = load_model(str(full), device="cpu", cache_dir=tmp_path / "cache", progress=False)
    assert loaded.is_tiny
    monkeypatch.setattr(model_sources, "available_memory", lambda device: needed // 2)
    with pytest.raises(ModelError, match="needs about"):
        load_model(str(full), device="cpu", cache_dir=tmp_path / "cache", progress=False)


def test_check_fits_and_estimate(tiny_model_dir: Path) -> None:
    cpu = torch.device("cpu")
    check_fits(10, None, cpu)
    check_fits(10, 10, cpu)
    with pytest.raises(ModelError, match="float16"):
        check_fits(11 * 1024**3, 10 * 1024**3, cpu)
    files = [tiny_model_dir / rel for rel in FOLDER_WEIGHTS.values()]
    fp32 = estimate_bytes(files, torch.float32)
    assert fp32 == sum(f.stat().st_size for f in files)
    assert estimate_bytes(files, torch.float16) == sum(f.stat().st_size // 2 for f in files)


def test_out_of_memory_while_placing(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from diffusers import StableDiffusionPipeline

    def oom(self: object, *args: object, **kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")

    monkeypatch.setattr(StableDiffusionPipeline, "to", oom)
    with pytest.raises(ModelError, match="does not fit"):
        load_model(str(tiny_model_dir), device="cpu", progress=False)


def test_riffusion_v1_style_folder_with_pickled_bins(
    tiny_model_session: LoadedModel, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """riffusion-model-v1 ships .bin pickles, legacy ``text_model.`` keys, a VAE saved by
    diffusers 0.9 (attention weights named query/key/value/proj_attn, which diffusers renames
    on load) and a model_index that lists a safety checker and feature extractor it never
    needs; all of that must load."""
    folder = Path(shutil.copytree(tiny_model_dir, tmp_path / "riffusion-like"))
    legacy = {
        ".to_q.": ".query.",
        ".to_k.": ".key.",
        ".to_v.": ".value.",
        ".to_out.0.": ".proj_attn.",
    }
    for component, rel in FOLDER_WEIGHTS.items():
        state = load_file(str(folder / rel))
        (folder / rel).unlink()
        if component == "text_encoder":
            state = {f"text_model.{k}": v for k, v in state.items()}
            state["text_model.embeddings.position_ids"] = torch.arange(77)[None]
            torch.save(state, folder / component / "pytorch_model.bin")
        else:
            if component == "vae":
                renamed = {}
                for key, value in state.items():
                    for new, old in legacy.items():
                        key = key.replace(new, old)
                    renamed[key] = value
                assert any(".proj_attn." in key for key in renamed)
                state = renamed
            torch.save(state, folder / component / "diffusion_pytorch_model.bin")
    index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": "0.6.0",
        "feature_extractor": ["transformers", "CLIPFeatureExtractor"],
        "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    (folder / "model_index.json").write_text(json.dumps(index))
    loaded = load_model(str(folder), device="cpu", progress=False)
    _assert_same_weights(loaded.pipe, tiny_model_session.pipe)
    assert loaded.pipe.safety_checker is None
    assert loaded.pipe.feature_extractor is None
    # `riffbot model convert` on such a folder writes a single file that loads the same weights
    single = write_single_file(folder, tmp_path / "riffusion-like.safetensors")
    converted = load_model(str(single), device="cpu", cache_dir=tmp_path / "cache", progress=False)
    _assert_same_weights(converted.pipe, tiny_model_session.pipe)
