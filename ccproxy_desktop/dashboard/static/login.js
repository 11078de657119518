// Redeems the one-time token in the URL fragment (never sent to the server in the URL) for a session cookie.
(function () {
  "use strict";
  var status = document.getElementById("login-status");
  var match = /(?:^|[#&])token=([A-Za-z0-9_-]+)/.exec(location.hash);
  history.replaceState(null, "", location.pathname);  // the token leaves the address bar and history at once
  if (!match) { status.textContent = "No sign-in token: open the dashboard with `ccproxy dashboard`."; return; }
  fetch("api/session", {method: "POST", headers: {"content-type": "application/json"},
                        body: JSON.stringify({token: match[1]}), credentials: "same-origin"})
    .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
    .then(function (res) {
      if (res.ok) { location.replace(res.body.location); }
      else { status.textContent = res.body.error || "Sign-in refused."; }
    })
    .catch(function () { status.textContent = "The proxy did not answer."; });
})();
