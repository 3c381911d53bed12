"""Rasa's own web widget, npm's rasa-webchat, on a page that ``murmur chat`` serves at ``/webchat?persona=NAME``.

The widget talks to the persona over Rasa's socket.io channel (``bots.chat.socket_io``), so this page shows what
a Rasa deployment's users would see. Page and widget both say that the user is talking to a bot: the page's banner,
the widget's title and subtitle, and the persona's first message, which is its disclosure (the widget's ``initPayload`` is
Rasa's ``/ask_if_bot`` intent). ``make webchat`` fetches the widget's bundle from the npm registry; until then the
page answers 503 and says so.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from string import Template

from aiohttp import web

from bots.personas import Persona

STATIC = Path(__file__).parent / "static"
BUNDLE = STATIC / "webchat" / "rasa-webchat.js"
PAGE = Template((STATIC / "webchat.html").read_text(encoding="utf-8"))
SUBTITLE = "an automated persona, not a person"
OPENING = "/ask_if_bot"  # Rasa's intent payload: the persona opens the chat by saying it is a bot


def _script_json(value: object) -> str:
    """JSON that is safe inside a <script> element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(personas: dict[str, Persona], persona: Persona, bundle: Path = BUNDLE) -> str:
    widget = {"socketUrl": "", "socketPath": "/socket.io/", "customData": {"persona": persona.name},
              "initPayload": OPENING, "title": f"{persona.shown_name} (a bot)", "subtitle": SUBTITLE,
              "inputTextFieldHint": "Type a message to the bot", "params": {"storage": "session"}}
    others = " · ".join(f'<a href="?persona={html.escape(name)}">{html.escape(p.shown_name)}</a>'
                        for name, p in sorted(personas.items()) if name != persona.name)
    return PAGE.substitute(name=html.escape(persona.shown_name), bio=html.escape(persona.bio or ""),
                           others=others, widget=_script_json(widget),
                           version=int(bundle.stat().st_mtime))


def add_webchat_page(app: web.Application, personas: dict[str, Persona], bundle: Path = BUNDLE) -> None:
    """Serve the widget's page at /webchat and its bundle at /webchat/rasa-webchat.js."""

    async def page(request: web.Request) -> web.Response:
        if not bundle.is_file():
            return web.Response(status=503, text="the rasa-webchat widget is not installed here: run `make webchat` "
                                                 "(it fetches npm's rasa-webchat into bots/chat/static/webchat)\n")
        name = request.query.get("persona") or min(personas)
        persona = personas.get(name)
        if persona is None:
            return web.json_response({"error": f"persona: unknown persona {name!r}; "
                                               f"known: {', '.join(sorted(personas))}"}, status=404)
        return web.Response(text=render(personas, persona, bundle), content_type="text/html")

    async def script(request: web.Request) -> web.StreamResponse:
        if not bundle.is_file():
            return web.Response(status=404, text="rasa-webchat is not installed here: run `make webchat`\n")
        return web.FileResponse(bundle, headers={"Content-Type": "application/javascript"})

    app.router.add_get("/webchat", page)
    app.router.add_get("/webchat/rasa-webchat.js", script)
