from __future__ import annotations

from pathlib import Path

import pytest

from libs.devstack.errors import InstallError
from libs.devstack.images import find_debian_mirror, host_codename, parse_apt_sources

DEB822 = """Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main
"""


def test_deb822_entries_are_parsed_in_order() -> None:
    entries = parse_apt_sources(DEB822, deb822=True)
    assert entries == [
        ("http://mirror.example/debian", ["bookworm", "bookworm-updates"], ["main"]),
        ("http://mirror.example/debian-security", ["bookworm-security"], ["main"]),
    ]


def test_one_line_format_with_options_is_parsed() -> None:
    text = (
        "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main contrib\n"
        "deb-src http://src.example/debian bookworm main\n"
    )
    assert parse_apt_sources(text, deb822=False) == [
        ("http://one.example/debian", ["bookworm"], ["main", "contrib"])
    ]


def _apt_dir(tmp_path: Path, sources: str, legacy: str = "") -> Path:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(sources)
    (tmp_path / "sources.list").write_text(legacy)
    return tmp_path


def test_mirror_is_read_from_apt_for_the_suite(tmp_path: Path) -> None:
    apt = _apt_dir(tmp_path, DEB822)
    assert find_debian_mirror("bookworm", apt) == "http://mirror.example/debian"
    assert find_debian_mirror("bookworm-security", apt) == "http://mirror.example/debian-security"


def test_missing_suite_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="no apt source for Debian 'trixie'"):
        find_debian_mirror("trixie", _apt_dir(tmp_path, DEB822))


def test_host_codename(tmp_path: Path) -> None:
    release = tmp_path / "os-release"
    release.write_text('PRETTY_NAME="Debian GNU/Linux 12"\nVERSION_CODENAME=bookworm\n')
    assert host_codename(release) == "bookworm"
