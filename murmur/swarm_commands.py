"""``murmur swarm``: the options of a swarm run. ``murmur.assembly.run_swarm`` builds and runs it; bots post
only to a murmur test forum (``murmur.forum_lock``), on this machine unless the user says otherwise.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from murmur.assembly import run_swarm
from murmur.swarm_job import ForumAccess, RayTurns, SwarmJob
from murmur.config import Settings
from murmur.errors import MurmurError
from murmur.forum_lock import check_forum_url


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(dict)["settings"]


def _when(option: str, text: str | None):
    from conversations.models import parse_time

    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise MurmurError(f"{option}: {text!r} is not an ISO-8601 time; e.g. 2016-09-01T00:00:00Z") from None


@click.command(short_help="Run a swarm of persona bots against a murmur test forum.")
@click.option("--forum", "forum_url", default=None, help="the forum's URL (default: forum.host and forum.port)")
@click.option("--bots", type=click.IntRange(1, 100_000), default=None, help="how many bots (default: swarm.bots)")
@click.option("--personas", "personas_dir", type=click.Path(path_type=Path), default=None,
              help="folder of persona files (default: bots.personas_dir)")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True), default=None, help="hours of forum time (default: swarm.hours)")
@click.option("--clock", type=click.Choice(["simulated", "wall"]), default=None, help="default: swarm.clock (simulated)")
@click.option("--seed", type=int, default=None, help="default: the seed in config.yml")
@click.option("--run-id", default=None, help="names the run in ground truth and its log (default: time and seed)")
@click.option("--allow-remote", is_flag=True, help="allow a forum that is not on this machine (your own murmur forum)")
@click.option("--replay", "replay_paths", multiple=True, type=click.Path(path_type=Path),
              help="people's posts to replay at their own times (murmur JSONL or a Stack Exchange dump; repeatable)")
@click.option("--from", "start", default=None, help="with --replay: the window's start (ISO-8601; default: a week in)")
@click.option("--until", default=None, help="with --replay: the window's end (ISO-8601; default: --from + --hours)")
@click.option("--align-sites", is_flag=True, help="with --replay: shift each site's times (gaps kept) so all start together")
@click.option("--behaviour", type=click.Choice(["persona", "fitted"]), default=None,
              help="persona schedules, or timing fitted to the forum's people (default: swarm.behaviour)")
@click.option("--population", type=click.Choice(["persona", "people"]), default=None,
              help="one account per persona, or accounts shaped like the forum's people (default: swarm.population)")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="run the turns on Ray worker actors: on the cluster at ADDRESS (e.g. 10.0.0.5:6379), or alone, "
                   "on a local cluster started here")
@click.option("--workers", type=click.IntRange(1, 1024), default=2, show_default=True,
              help="with --ray: turn workers, each with its own Rasa server(s) and reply generator")
@click.option("--campaign", "campaign_file", type=click.Path(path_type=Path), default=None,
              help="a campaign file (YAML): accounts acting together toward one end beside the bots, in the bank's "
                   "human replies on its side only (examples/campaigns/)")
@click.pass_context
def swarm(ctx: click.Context, forum_url: str | None, bots: int | None, personas_dir: Path | None, hours: float | None,
          clock: str | None, seed: int | None, run_id: str | None, allow_remote: bool, replay_paths: tuple[Path, ...],
          start: str | None, until: str | None, align_sites: bool, behaviour: str | None, population: str | None,
          ray_address: str | None, workers: int, campaign_file: Path | None) -> None:
    """Bots that follow the forum, find threads through the index, join them by the join policy and post.

    Needs the forum's admin token (forum.admin_token or MURMUR_ADMIN_TOKEN) to make bot accounts and
    record every bot post's provenance as ground truth.
    """
    settings = _settings(ctx)
    token = settings.forum.admin_token
    if not token:
        raise MurmurError("the swarm needs the forum's admin token to make bot accounts and record ground truth; "
                          "set MURMUR_ADMIN_TOKEN (or forum.admin_token) to the token the forum printed")
    url = check_forum_url(forum_url or f"http://{settings.forum.host}:{settings.forum.port}", allow_remote)
    if behaviour:
        settings = settings.model_copy(update={"swarm": settings.swarm.model_copy(update={"behaviour": behaviour})})
    if population:
        settings = settings.model_copy(update={"swarm": settings.swarm.model_copy(update={"population": population})})
    campaign = None
    campaign_file = campaign_file or settings.swarm.campaign
    if campaign_file is not None:
        from bots.campaigns import load_campaign

        campaign = load_campaign(campaign_file)  # refused before anything starts: the key and the fix
    plan = None
    if replay_paths:
        from bots.swarm.replay import read_replay

        plan = read_replay(replay_paths, start=_when("--from", start), until=_when("--until", until),
                           hours=hours or settings.swarm.hours, align_sites=align_sites)
    elif start or until or align_sites:
        raise click.UsageError("--from, --until and --align-sites go with --replay")
    if settings.rasa.external_urls() and ray_address:
        raise click.UsageError("--ray: each turn worker starts its own Rasa server; empty rasa.url and rasa.urls")
    result = asyncio.run(run_swarm(
        settings, ForumAccess(url, token),
        SwarmJob(run_id, seed, bots, personas_dir, hours, clock, replay=plan, campaign=campaign),
        ray=RayTurns(workers, None if ray_address == "local" else ray_address) if ray_address else None,
        echo=click.echo))
    click.echo(result.summary())
