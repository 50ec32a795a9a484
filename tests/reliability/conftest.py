"""Session fixtures of the reliability suite and its one-line summary of what it tried."""

import pytest

from tests.reliability.common import TALLY, build_project


@pytest.fixture(scope="session")
def base_project(tmp_path_factory):
    """A tiny recipe folder (data, dump with features, lists, statistics), built once per session."""
    return build_project(tmp_path_factory.mktemp("base") / "proj")


def pytest_terminal_summary(terminalreporter):
    # printed only when reliability tests ran (the tallies stay 0 otherwise)
    if any(TALLY.values()):
        terminalreporter.write_line(
            f"reliability: {TALLY['bad']} bad inputs, {TALLY['crash']} crash points, "
            f"{TALLY['fuzz']} fuzz examples"
        )
