"""The office dashboard (issue 16): a Telegram Mini App and desk page served by the bot itself.

Two halves with one seam:

- ``bot.dashboard.server`` / ``bot.dashboard.auth``: the tornado application (routes under
  ``/app/``), Telegram ``initData`` validation, the one-time desk link and the signed session
  cookie, security headers; it turns a request into a ``Viewer`` (who, role, district scope) or
  refuses (401 / 403) and hands the rest to ``bot.dashboard.pages.serve``.
- ``bot.dashboard.pages`` (+ its data and templates): what each page shows for a viewer, read
  with one or two roll-up queries; it never looks at cookies or initData.
"""
