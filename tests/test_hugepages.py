"""microflow.hugepages: THP_MEM_ALLOC_ENABLE is set only where huge pages exist, never over the user's value."""

import subprocess
import sys

import pytest

from microflow.hugepages import TORCH_VARIABLE, enable_torch_huge_pages, huge_pages_available


def setting(tmp_path, text):
    path = tmp_path / "enabled"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, expected", [("always [madvise] never\n", True), ("[always] madvise never\n", True),
                                            ("always madvise [never]\n", False)])
def test_mode_read_from_the_bracketed_word(tmp_path, monkeypatch, text, expected):
    monkeypatch.setattr(sys, "platform", "linux")
    assert huge_pages_available(setting(tmp_path, text)) is expected


def test_missing_setting_means_unavailable(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    assert not huge_pages_available(tmp_path / "absent")


def test_not_linux_means_unavailable(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert not huge_pages_available(setting(tmp_path, "[always] madvise never\n"))


def test_sets_the_variable_when_available(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    env = {}
    assert enable_torch_huge_pages(env, setting(tmp_path, "always [madvise] never\n"))
    assert env == {TORCH_VARIABLE: "1"}


def test_leaves_the_variable_unset_when_unavailable(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    env = {}
    assert not enable_torch_huge_pages(env, setting(tmp_path, "always madvise [never]\n"))
    assert env == {}


def test_keeps_the_users_opt_out(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    env = {TORCH_VARIABLE: "0"}
    assert not enable_torch_huge_pages(env, setting(tmp_path, "[always] madvise never\n"))
    assert env == {TORCH_VARIABLE: "0"}


def test_importing_microflow_sets_it_before_torch_allocates():
    code = ("import os, microflow, microflow.hugepages as h; "
            "print(os.environ.get(h.TORCH_VARIABLE), h.huge_pages_available())")
    env = {k: v for k, v in __import__("os").environ.items() if k != TORCH_VARIABLE}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.split()
    assert out == (["1", "True"] if out[1] == "True" else ["None", "False"])


def test_children_can_get_the_users_environment():
    code = ("import os, microflow, microflow.hugepages as h; "
            "print(h.TORCH_VARIABLE in os.environ, h.TORCH_VARIABLE in h.environment_without_our_settings())")
    env = {k: v for k, v in __import__("os").environ.items() if k != TORCH_VARIABLE}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.split()
    assert out[1] == "False"
    kept = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**env, TORCH_VARIABLE: "0"}).stdout.split()
    assert kept == ["True", "True"]  # a value the user set is the user's: children keep it
