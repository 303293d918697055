"""The ``require`` helper: one-line skip on a machine that lacks a tool, a failure when CI demands everything."""

import pytest


def test_present_tool_lets_the_test_run(require, monkeypatch):
    monkeypatch.setenv("CONSISTENCY_LAB_REQUIRE_ALL", "1")
    require(True, "Chromium", "apt install chromium")


def test_missing_tool_skips_with_one_line_naming_the_install_command(require, monkeypatch):
    monkeypatch.delenv("CONSISTENCY_LAB_REQUIRE_ALL", raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        require(False, "Chromium at /usr/bin/chromium", "apt install chromium")
    reason = str(info.value)
    assert "\n" not in reason
    assert "Chromium at /usr/bin/chromium" in reason and "apt install chromium" in reason


@pytest.mark.parametrize("value, fails", [("1", True), ("0", False), ("", False)])
def test_require_all_turns_the_skip_into_a_failure(require, monkeypatch, value, fails):
    monkeypatch.setenv("CONSISTENCY_LAB_REQUIRE_ALL", value)
    expected = pytest.fail.Exception if fails else pytest.skip.Exception
    with pytest.raises(expected) as info:
        require(False, "bubblewrap", "apt install bubblewrap")
    assert "apt install bubblewrap" in str(info.value)
