"""``deploy/``: the compose file, the Caddyfile and the .env example agree (Docker itself is not run here)."""

from __future__ import annotations

import re
from pathlib import Path


from bot.runtime.webhook import webhook_path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
CADDY = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
ENV = (DEPLOY / ".env.example").read_text(encoding="utf-8")


def _env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_compose_parses_and_runs_two_webhook_instances_on_one_postgresql() -> None:
    import yaml  # a test extra

    compose = yaml.safe_load(COMPOSE)
    services = compose["services"]
    assert services["db"]["image"] == "postgres:15"
    for name in ("bot1", "bot2"):
        bot = services[name]
        assert bot["build"] == {"context": "..", "dockerfile": "Dockerfile"} and bot["command"] == ["schoolbot", "run"]
        assert bot["environment"]["DATABASE_URL"].endswith("@db:5432/schoolbot")
        assert bot["environment"]["WEBHOOK_PORT"] == "8443" and "/healthz" in " ".join(bot["healthcheck"]["test"])
        assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["bot1"]["environment"] == services["bot2"]["environment"]
    assert services["migrate"]["command"] == ["schoolbot", "migrate"]
    assert services["webhook-set"]["command"] == ["schoolbot", "webhook", "set"]
    assert services["proxy"]["image"].startswith("caddy") and "443:443" in services["proxy"]["ports"]


def test_caddy_round_robins_the_webhook_path_to_both_instances_with_health_checks() -> None:
    assert re.search(r"reverse_proxy bot1:8443 bot2:8443", CADDY)
    assert "lb_policy round_robin" in CADDY and "health_uri /healthz" in CADDY
    assert "8443" in re.search(r'WEBHOOK_PORT: "(\d+)"', COMPOSE).group(1)  # type: ignore[union-attr]
    routed = re.search(r"@webhook path (\S+)", CADDY)
    assert routed is not None and routed.group(1) == webhook_path(_env_example()["WEBHOOK_URL"])


def test_env_example_names_every_setting_compose_needs_and_holds_no_secret() -> None:
    env = _env_example()
    for name in re.findall(r"\$\{(\w+):\?", COMPOSE):
        assert name in env
    for name in ("BOT_TOKEN", "WEBHOOK_SECRET", "POSTGRES_PASSWORD"):
        assert env[name] == "", f"{name} must be left for the operator to fill in"
    assert env["WEBHOOK_URL"] == f"https://{env['PUBLIC_HOST']}/tg"
