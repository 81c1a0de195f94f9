// The dashboard's login page (bot/dashboard/server.py): inside Telegram, the Mini App is opened
// with its signed launch data in the URL fragment (#tgWebAppData=...). Post it to /app/auth,
// which checks Telegram's signature and sets the session cookie, then go on to the page asked for.
// No telegram-web-app.js: the page loads nothing from outside (the CSP forbids it anyway).
(function () {
  "use strict";
  var message = document.getElementById("message");
  var fragment = new URLSearchParams(window.location.hash.slice(1));
  var initData = fragment.get("tgWebAppData");
  if (!initData) {
    return; // a desk browser without a session: the page already says to send /dashboard
  }
  var body = new URLSearchParams();
  body.set("init_data", initData);
  fetch("/app/auth", { method: "POST", body: body, credentials: "same-origin" })
    .then(function (response) {
      return response.text().then(function (html) {
        if (response.ok) {
          window.location.replace(message.getAttribute("data-next") || "/app/");
          return;
        }
        var page = new DOMParser().parseFromString(html, "text/html");
        var said = page.getElementById("message");
        message.textContent = said ? said.textContent : String(response.status);
        message.setAttribute("data-status", String(response.status));
      });
    })
    .catch(function () {
      message.setAttribute("data-status", "network");
    });
})();
