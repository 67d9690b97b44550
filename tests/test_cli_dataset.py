"""The README commands: build (--sample, --download through the download manager), inspect, push (no network)."""

from __future__ import annotations

import tarfile
import zipfile
from types import SimpleNamespace

import pytest
from PIL import Image

import blip_pose.hub_auth as hub_auth
import mpii_pose_dataset.download as download
from mpii_pose_dataset.cli import main
from mpii_pose_dataset.sample import SAMPLE_IMAGES, SAMPLE_MAT

SECRET = "hf_secretTOKENthatmustneverbeprinted"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "mpii_pose_caption"
    assert (
        main(
            [
                "build",
                "--sample",
                "--output",
                str(out),
                "--num-proc",
                "1",
                "--cache-dir",
                str(tmp_path_factory.mktemp("cache")),
            ]
        )
        == 0
    )
    return out


def test_build_sample_writes_hub_layout(built, capsys):
    assert (built / "README.md").is_file()
    assert sorted(p.name for p in (built / "data" / "paper").iterdir()) == [
        "train-00000-of-00001.parquet",
        "validation-00000-of-00001.parquet",
    ]
    card = (built / "README.md").read_text()
    assert "config_name: paper" in card and "default: true" in card and "path: data/paper/train-*.parquet" in card
    assert "image-to-text" in card and "3↔5 and 9↔11" in card


def test_inspect_prints_counts_and_writes_overlays(built, tmp_path, capsys):
    assert main(["inspect", str(built), "--overlays", "3", "--out", str(tmp_path / "ov")]) == 0
    out = capsys.readouterr().out
    assert "[paper] examples: train 27, validation 7" in out
    assert "test_image 4" in out and "not_single_person" in out
    pngs = sorted((tmp_path / "ov").glob("*.png"))
    assert len(pngs) == 3 and Image.open(pngs[0]).size == (384, 384)


def test_push_uploads_the_folder_without_printing_the_token(built, monkeypatch, capsys):
    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("token", token))

        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            calls.append(("upload_folder", kwargs))
            return SimpleNamespace(commit_url="https://huggingface.co/datasets/me/x/commit/abc")

    monkeypatch.setattr(hub_auth, "HfApi", FakeApi)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    assert main(["push", str(built), "--repo-id", "me/mpii_pose_caption", "--private"]) == 0
    assert calls[0] == ("token", SECRET)
    assert calls[1] == (
        "create_repo",
        "me/mpii_pose_caption",
        {"repo_type": "dataset", "private": True, "exist_ok": True},
    )
    upload = calls[2][1]
    assert upload["folder_path"] == str(built) and upload["repo_type"] == "dataset"
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err and "commit/abc" in captured.out


def test_push_refuses_without_token_or_built_folder(built, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(hub_auth, "get_token", lambda: None)
    monkeypatch.setattr(hub_auth, "HfApi", lambda **_: pytest.fail("must not reach the Hub"))
    assert main(["push", str(built), "--repo-id", "me/x"]) == 2
    assert "no Hugging Face token" in capsys.readouterr().err
    assert main(["push", str(tmp_path), "--repo-id", "me/x"]) == 2
    assert "no README.md dataset card" in capsys.readouterr().err


def test_download_goes_through_the_download_manager(tmp_path, monkeypatch, capsys):
    """The official archives' layout, served from local files (no network here)."""
    images_tar = tmp_path / "mpii_human_pose_v1.tar.gz"
    with tarfile.open(images_tar, "w:gz") as tar:
        tar.add(SAMPLE_IMAGES, arcname="images")
    annotations_zip = tmp_path / "mpii_human_pose_v1_u12_2.zip"
    with zipfile.ZipFile(annotations_zip, "w") as zf:
        zf.write(SAMPLE_MAT, "mpii_human_pose_v1_u12_2/mpii_human_pose_v1_u12_1.mat")
    monkeypatch.setattr(download, "MPII_URLS", {"images": str(images_tar), "annotations": str(annotations_zip)})
    out = tmp_path / "out"
    assert (
        main(["build", "--download", "--output", str(out), "--num-proc", "1", "--cache-dir", str(tmp_path / "cache")])
        == 0
    )
    assert "[paper] examples: train 27, validation 7" in capsys.readouterr().out
    assert any((tmp_path / "cache" / "downloads" / "extracted").iterdir())


def test_cli_reports_bad_options_as_one_error_line(tmp_path, capsys):
    assert main(["build", "--sample", "--output", str(tmp_path / "o"), "--simple-joints", "nose"]) == 2
    assert "unknown joint name 'nose'" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "not_built")]) == 2
    assert "not a built mpii_pose_caption folder" in capsys.readouterr().err


def test_several_mat_files_name_the_way_out(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    for name in ("a.mat", "b.mat"):
        (tmp_path / name).write_bytes(b"")
    assert main(["build", "--mpii-dir", str(tmp_path), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "several .mat files (a.mat, b.mat); name the annotation file mpii_human_pose_v1_u12_1.mat" in err
    assert "--mpii-dir folder" in err
