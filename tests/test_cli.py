"""The `tracker` command, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests import servers
from tracker.config import Settings
from tracker.main import create_app


def tracker(
    *args: str, database_url: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("TRACKER_")
    }
    environment.update({"TRACKER_DATABASE_URL": database_url, **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "tracker", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


class TestKeys:
    def test_create_works_on_a_fresh_install(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
        created = tracker("keys", "create", "--name", "laptop", database_url=url)
        assert created.returncode == 0, created.stderr
        key = created.stdout.splitlines()[-1]
        assert key.startswith("trk_") and len(key) > 40 and " " not in key
        assert key not in (tmp_path / "fresh.db").read_bytes().decode("latin-1")

    async def test_create_list_revoke_and_the_api_agrees(
        self, clean_database: str, tmp_path: Path
    ) -> None:
        created = tracker("keys", "create", "--name", "ci bot", database_url=clean_database)
        assert created.returncode == 0, created.stderr
        key = created.stdout.splitlines()[-1]
        listed = tracker("keys", "list", database_url=clean_database)
        assert "ci bot" in listed.stdout and "active" in listed.stdout
        assert key not in listed.stdout and key[:12] in listed.stdout

        app = create_app(Settings(_env_file=None, database_url=clean_database, spool_dir=tmp_path))  # type: ignore[call-arg]
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                headers = {"Authorization": f"Bearer {key}"}
                assert (await http.get("/api/links", headers=headers)).status_code == 200
                revoked = tracker("keys", "revoke", "1", database_url=clean_database)
                assert revoked.returncode == 0, revoked.stderr
                assert (await http.get("/api/links", headers=headers)).status_code == 401
        assert "revoked" in tracker("keys", "list", database_url=clean_database).stdout
        missing = tracker("keys", "revoke", "99", database_url=clean_database)
        assert missing.returncode == 1 and "no API key with id 99" in missing.stderr


class TestConfig:
    def test_prints_settings_with_the_password_masked(self) -> None:
        shown = tracker("config", database_url="postgresql://app:hunter2@db.internal/tracker")
        assert shown.returncode == 0, shown.stderr
        assert "hunter2" not in shown.stdout
        assert (
            '"TRACKER_DATABASE_URL": "postgresql+asyncpg://app:***@db.internal/tracker"'
            in shown.stdout
        )

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("TRACKER_CLICK_BATCH_SIZE", "-1"),
            ("TRACKER_DATABASE_URL", "mysql://db/x"),
            ("TRACKER_DATABASE_URL", "sqlite:///x.db?timeout=30"),
            ("TRACKER_BASE_URL", "go.example.com"),
            ("TRACKER_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("TRACKER_CLICK_WRITE", "sometimes"),
            ("TRACKER_CLICK_WRITER_NICE", "fast"),
        ],
    )
    def test_an_invalid_setting_fails_fast_with_one_line(self, name: str, value: str) -> None:
        result = tracker("config", database_url="sqlite:///x.db", env={name: value})
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"invalid setting {name}:")

    @pytest.mark.parametrize("command", [("keys", "list"), ("db", "upgrade"), ("links", "list")])
    def test_an_unreachable_database_is_one_line_and_status_75(
        self, database_url: str, command: tuple[str, ...]
    ) -> None:
        """Three times: with aiosqlite's failed connection, one try in three also printed the
        traceback of a thread that found its loop closed (the database is now asked first)."""
        for _ in range(3):
            result = tracker(*command, database_url=servers.unreachable(database_url))
            assert result.returncode == 75
            (line,) = result.stderr.strip().splitlines()
            assert line.startswith("database unavailable: "), line


class TestLinks:
    def test_create_prints_the_short_url_last_and_the_rest_follows(
        self, clean_database: str, tmp_path: Path
    ) -> None:
        env = {"TRACKER_BASE_URL": "https://go.example"}

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            done = tracker("links", *args, database_url=clean_database, env=env)
            assert done.returncode == 0, done.stderr
            return done

        created = run(
            "create", "https://shop.example.com/mug", "--slug", "mug-ig", "--utm-source",
            "instagram", "--utm-medium", "social", "--utm-campaign", "spring", "--tag", "mugs",
        )  # fmt: skip
        assert created.stdout.splitlines()[-1] == "https://go.example/mug-ig"
        bulk = run(
            "bulk", "https://shop.example.com/mug", "--utm-campaign", "spring",
            "--channel", "facebook/social", "--channel", "newsletter/email",
        )  # fmt: skip
        assert [line.split("\t")[0] for line in bulk.stdout.splitlines()] == [
            "facebook/social",
            "newsletter/email",
        ]
        listed = run("list", "--utm-source", "instagram")
        assert listed.stdout.startswith(
            "mug-ig\thttps://go.example/mug-ig\tspring/instagram/social"
        )
        shown = run("show", "mug-ig")
        assert "utm_campaign=spring" in shown.stdout and "tags: mugs" in shown.stdout
        updated = run("update", "mug-ig", "--title", "Blue mug")
        assert "title: Blue mug" in updated.stdout
        run("disable", "mug-ig")
        assert "\toff" in run("list", "--utm-source", "instagram").stdout
        run("qr", "mug-ig", "--output", str(tmp_path / "mug.png"))
        assert (tmp_path / "mug.png").read_bytes().startswith(b"\x89PNG")

    def test_bad_input_is_one_line_and_changes_nothing(self, clean_database: str) -> None:
        wrong = tracker("links", "create", "ftp://x", database_url=clean_database)
        assert wrong.returncode == 2 and wrong.stderr.startswith("invalid link: url")
        missing = tracker("links", "show", "nope", database_url=clean_database)
        assert missing.returncode == 1 and "no link with slug 'nope'" in missing.stderr
        assert tracker("links", "list", database_url=clean_database).stdout == ""
