"""Training building blocks: batch order, padding, optimiser groups, freezing, checkpoints, devices, train checks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification

from ftpipe.config.schema import check_section
from ftpipe.infra.errors import PipelineError
from ftpipe.training import checkpoints
from ftpipe.training.batching import TokenSplit, collate, inference_batches, save_tokenized, train_batches
from ftpipe.training.device import pick_device
from ftpipe.training.optim import build_optimizer, encoder_layers, set_trainable
from tests.helpers.config import train_cfg


@pytest.fixture
def tiny_model(tiny_model_dir):
    return AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)


def test_batch_order_is_a_pure_function_of_seed_and_epoch():
    lengths = np.random.default_rng(0).integers(5, 80, size=1000)
    a, b = train_batches(lengths, 32, 7, 0, True), train_batches(lengths, 32, 7, 0, True)
    assert all((x == y).all() for x, y in zip(a, b))
    assert not all((x == y).all() for x, y in zip(a, train_batches(lengths, 32, 7, 1, True)))
    assert sorted(np.concatenate(a).tolist()) == list(range(1000))  # every example exactly once


def test_length_bucketing_cuts_padding():
    lengths = np.random.default_rng(0).integers(5, 80, size=2000)

    def padded(batches):
        return sum(len(b) * lengths[b].max() for b in batches)

    assert padded(train_batches(lengths, 32, 1, 0, True)) < 0.8 * padded(train_batches(lengths, 32, 1, 0, False))
    assert sorted(np.concatenate(inference_batches(lengths, 64)).tolist()) == list(range(2000))


def test_collate_pads_to_the_longest_in_batch():
    batch = collate([[1, 2, 3], [4], [5, 6]], np.array([0, 1]), pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_collate_rounds_the_width_up_and_masks_the_extra_places(tiny_model):
    ids, _ = split_rows(40, seed=3)
    index = np.arange(8)
    plain, wide = collate(ids, index, pad_id=0), collate(ids, index, pad_id=0, multiple=16)
    width = plain["input_ids"].shape[1]
    assert wide["input_ids"].shape == (8, -(-width // 16) * 16) and wide["input_ids"].shape[1] > width
    assert torch.equal(wide["input_ids"][:, :width], plain["input_ids"]) and not wide["input_ids"][:, width:].any()
    assert int(wide["attention_mask"].sum()) == int(plain["attention_mask"].sum())  # tokens/s counts the same
    assert collate(ids, index, pad_id=0, multiple=width)["input_ids"].shape[1] == width  # already a multiple
    tiny_model.eval()
    with torch.no_grad():  # masked padding: the same logits, whatever the width
        assert torch.allclose(tiny_model(**plain).logits, tiny_model(**wide).logits, atol=1e-5)


def split_rows(n: int, seed: int = 0) -> tuple[list[list[int]], list[int]]:
    rng = np.random.default_rng(seed)
    return [[101, *rng.integers(999, 30521, size=rng.integers(0, 60)).tolist(), 102] for _ in range(n)], \
        rng.integers(0, 3, size=n).tolist()


def test_a_tokenized_split_round_trips_through_a_saved_dataset(tmp_path):
    import datasets

    ids, labels = split_rows(2500)  # more rows than one Arrow record batch, so the file holds several chunks
    save_tokenized(tmp_path / "train", ids, np.asarray(labels))
    dataset = datasets.load_from_disk(str(tmp_path / "train"))  # what a user would do
    assert dataset.column_names == ["input_ids", "label", "length"] and len(dataset) == 2500
    assert dataset[7] == {"input_ids": ids[7], "label": labels[7], "length": len(ids[7])}
    assert dataset.data.column("input_ids").num_chunks > 1
    split = TokenSplit.load(tmp_path / "train")
    assert [row.tolist() for row in split.ids] == ids and split.labels.tolist() == labels
    assert split.lengths.tolist() == [len(x) for x in ids] and split.labels.dtype == np.int64
    index = np.array([3, 999, 1000, 2499])  # across chunk boundaries
    for key, value in collate(split.ids, index, pad_id=0).items():
        assert torch.equal(value, collate(ids, index, pad_id=0)[key])


def test_the_same_split_saves_the_same_bytes(tmp_path):
    ids, labels = split_rows(300)
    save_tokenized(tmp_path / "a", ids, labels)
    save_tokenized(tmp_path / "b", ids, labels)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["data-00000-of-00001.arrow", "dataset_info.json", "state.json"]
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    ids[5] = [*ids[5][:-1], 999, 102]  # one more token in one row
    save_tokenized(tmp_path / "c", ids, labels)
    assert (tmp_path / "c/state.json").read_bytes() != (tmp_path / "a/state.json").read_bytes()  # the fingerprint


def test_a_folder_that_is_not_a_saved_split_is_one_line_naming_it(tmp_path):
    import datasets

    ids, labels = split_rows(50)
    save_tokenized(tmp_path / "truncated", ids, labels)
    arrow = tmp_path / "truncated/data-00000-of-00001.arrow"
    arrow.write_bytes(arrow.read_bytes()[:300])
    save_tokenized(tmp_path / "bad-state", ids, labels)
    (tmp_path / "bad-state/state.json").write_text("{not json")
    datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]}).save_to_disk(str(tmp_path / "texts"))
    datasets.Dataset.from_dict({"input_ids": [[0.5], [1.5]], "label": [0, 1]}).save_to_disk(str(tmp_path / "floats"))
    (tmp_path / "old").mkdir()  # where the splits were parquet files
    pd.DataFrame({"input_ids": ids, "label": labels}).to_parquet(tmp_path / "old/train.parquet")
    for name in ("missing", "truncated", "bad-state", "texts", "floats", "old"):
        with pytest.raises(PipelineError) as caught:
            TokenSplit.load(tmp_path / name)
        message = str(caught.value)
        assert message.startswith(f"{tmp_path / name}: not a tokenized split saved by tokenize (") and \
            message.endswith("rerun `dvc repro tokenize` (or `python -m stages.tokenize`)"), message
        assert "\n" not in message


def test_layerwise_lr_decay_and_no_decay_groups(tiny_model):
    optimizer = build_optimizer(tiny_model, train_cfg(lr=1e-3, layerwise_lr_decay=0.5, weight_decay=0.1))
    lrs = sorted({g["lr"] for g in optimizer.param_groups})
    assert lrs == pytest.approx([1e-3 * 0.5 ** 3, 1e-3 * 0.5 ** 2, 1e-3 * 0.5, 1e-3])  # embeddings, 2 layers, head
    names = {id(p): n for n, p in tiny_model.named_parameters()}
    for group in optimizer.param_groups:
        for p in group["params"]:
            assert (group["weight_decay"] == 0) == (names[id(p)].endswith("bias") or "LayerNorm" in names[id(p)])
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(tiny_model.parameters()))


@pytest.mark.parametrize("name, cls", [("sgd", torch.optim.SGD), ("rmsprop", torch.optim.RMSprop)])
def test_other_optimisers(tiny_model, name, cls):
    assert isinstance(build_optimizer(tiny_model, train_cfg(optimizer=name)), cls)


def test_bad_train_values_are_named():
    check_section("train", train_cfg())  # the shipped recipe passes
    with pytest.raises(PipelineError, match="train.optimizer: unknown value 'adam'; use one of adamw, sgd, rmsprop"):
        check_section("train", train_cfg(optimizer="adam"))
    with pytest.raises(PipelineError, match="train.batch_size: must be a positive integer"):
        check_section("train", train_cfg(batch_size=0))
    with pytest.raises(PipelineError, match="train.lr: must be a positive number"):
        check_section("train", train_cfg(lr=-1e-5))


def trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_freezing_and_gradual_unfreezing(tiny_model):
    set_trainable(tiny_model, train_cfg(freeze_embeddings=True, freeze_layers=1), epoch=0)
    names = trainable(tiny_model)
    assert not any("embeddings" in n or "layer.0." in n for n in names) and any("layer.1." in n for n in names)

    gradual = train_cfg(gradual_unfreezing=True)
    set_trainable(tiny_model, gradual, epoch=0)
    assert all(n.startswith(("classifier", "bert.pooler")) for n in trainable(tiny_model))
    set_trainable(tiny_model, gradual, epoch=1)
    names = trainable(tiny_model)
    assert any("layer.1." in n for n in names) and not any("layer.0." in n for n in names)
    set_trainable(tiny_model, gradual, epoch=3)
    assert trainable(tiny_model) == {n for n, _ in tiny_model.named_parameters()}
    assert len(encoder_layers(tiny_model)) == 2


def test_checkpoints_resume_only_with_matching_fingerprint(tmp_path):
    directory = tmp_path / "ckpt"
    for step in (1, 2, 3):
        checkpoints.save(directory, step, {"fingerprint": "abc", "loop": {"step": step}}, keep=2)
    assert sorted(p.name for p in directory.iterdir()) == ["step-00000002", "step-00000003"]
    assert checkpoints.latest(directory, "abc")["loop"]["step"] == 3
    assert checkpoints.latest(directory, "other") is None and not directory.exists()


def test_devices_and_precisions_never_require_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only refusals")
    assert pick_device(train_cfg())[0].type == "cpu"
    with pytest.raises(PipelineError, match="fp16 needs a CUDA device"):
        pick_device(train_cfg(precision="fp16"))
    with pytest.raises(PipelineError, match="cuda requested"):
        pick_device(train_cfg(device="cuda"))


def test_evaluation_points_are_even_end_at_the_epoch_and_never_split_an_accumulated_step():
    from ftpipe.training.loop import eval_points

    assert eval_points(10, 1) == [10]
    assert eval_points(10, 2) == [5, 10]
    assert eval_points(10, 3) == [4, 7, 10]
    assert eval_points(10, 3, accum=4) == [4, 8, 10]     # moved up to a step; the epoch's end always counts
    assert eval_points(3, 5) == [1, 2, 3]                 # more validations than batches: one per batch
    assert eval_points(10, 4, accum=8) == [8, 10]         # points that fall on one step count once
