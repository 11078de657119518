// The ccproxy dashboard: plain JS, no libraries. Data from api/*, live updates from api/events (SSE).
// Every value from the server is put in the page with textContent / attributes, never as HTML.
(function () {
  "use strict";
  var PAGES = ["now", "spend", "routing", "ab", "health", "config"];
  var COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
  var SVG = "http://www.w3.org/2000/svg";
  var page = "now", oldest = null, latestIds = {};

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function usd(v, unknown) {
    if (v === null || v === undefined) return "?";
    var digits = Math.abs(v) < 1 ? 4 : 2;
    return "$" + Number(v).toLocaleString("en-US", {minimumFractionDigits: digits, maximumFractionDigits: digits}) + (unknown ? "+?" : "");
  }
  function num(v) { return v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US"); }
  function ms(v) { return v === null || v === undefined ? "–" : num(Math.round(v)) + " ms"; }
  function time(ts) { return new Date(ts * 1000).toLocaleTimeString(); }
  function duration(seconds) {
    var m = Math.floor(seconds / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
    return d ? d + " d " + (h % 24) + " h" : h ? h + " h " + (m % 60) + " min" : m + " min";
  }
  function row(cells, attrs) {
    var tr = el("tr", attrs);
    cells.forEach(function (c) {
      var td = el("td", c.attrs || {}, c.text);
      if (c.cls) td.className = c.cls;
      tr.appendChild(td);
    });
    return tr;
  }
  function get(path) {
    return fetch(path, {credentials: "same-origin"}).then(function (r) {
      if (r.status === 401) { document.body.textContent = "Signed out: open the dashboard again with `ccproxy dashboard`."; throw new Error("401"); }
      return r.json().then(function (body) { if (!r.ok) throw new Error(body.error || r.status); return body; });
    });
  }

  // -- navigation (hash, keyboard: Tab to a page link, Enter; arrow keys move between links) -------------
  function show(name) {
    if (PAGES.indexOf(name) < 0) name = "now";
    page = name;
    stale[name] = false; lastLoad[name] = Date.now();
    PAGES.forEach(function (p) {
      $("page-" + p).hidden = p !== name;
      $("tab-" + p).setAttribute("aria-selected", p === name ? "true" : "false");
      $("tab-" + p).tabIndex = p === name ? 0 : -1;
    });
    load(name);
  }
  document.querySelector("nav").addEventListener("keydown", function (e) {
    var i = PAGES.indexOf(page), next = null;
    if (e.key === "ArrowRight") next = PAGES[(i + 1) % PAGES.length];
    else if (e.key === "ArrowLeft") next = PAGES[(i + PAGES.length - 1) % PAGES.length];
    else if (e.key === "Home") next = PAGES[0];
    else if (e.key === "End") next = PAGES[PAGES.length - 1];
    else if (e.key === " " && e.target.getAttribute("role") === "tab") next = e.target.id.slice(4);
    if (next === null) return;
    location.hash = next; $("tab-" + next).focus(); e.preventDefault();
  });
  window.addEventListener("hashchange", function () { show(location.hash.slice(1)); });

  var cost = {};  // ms the last load of each page took: a slow page is refreshed less often
  function load(name) {
    var fn = {now: loadNow, spend: loadSpend, routing: loadRouting, ab: loadAb, health: loadHealth, config: loadConfig}[name];
    var started = Date.now();
    fn().then(function () {
      cost[name] = Date.now() - started;
      if ($("live").textContent.indexOf("error") === 0) $("live").textContent = "live";
    }).catch(function (err) { $("live").textContent = "error: " + err.message; });
  }

  // -- Now ---------------------------------------------------------------------------------------------
  function setValue(id, value, text) { var n = $(id); n.setAttribute("data-value", String(value)); n.textContent = text; }
  function requestRow(r) {
    var tokens = r.tokens;
    var model = r.requested_model === r.routed_model ? r.routed_model : r.requested_model + " → " + r.routed_model;
    var flags = [r.cached ? "cached" : "", r.retried ? "retried ×" + r.retried : "", r.fallback ? "fallback" : ""].filter(Boolean).join(", ");
    return row([
      {text: time(r.ts)}, {text: r.session ? r.session.slice(0, 12) : "–"}, {text: r.rule}, {text: model, cls: "wrap"},
      {text: num(tokens.input), cls: "num"}, {text: num(tokens.output), cls: "num"},
      {text: num(tokens.cache_read) + " / " + num(tokens.cache_write), cls: "num"},
      {text: usd(r.cost_usd), cls: "num", attrs: {"data-value": r.cost_usd === null ? "" : r.cost_usd}},
      {text: ms(r.latency_ms), cls: "num"},
      {text: r.outcome + (flags ? " (" + flags + ")" : ""), cls: "wrap " + (r.outcome === "ok" ? "good" : "bad")}
    ], {"data-id": r.id, "data-routed": r.routed_model});
  }
  function addLatest(r, top) {
    if (latestIds[r.id]) return;
    latestIds[r.id] = true;
    var tr = requestRow(r), body = $("latest-body");
    if (top) { tr.className = "new"; body.insertBefore(tr, body.firstChild); } else body.appendChild(tr);
  }
  function loadNow() {
    return get("api/now").then(function (d) {
      $("now-state").textContent = "running";
      var facts = ["pid " + d.proxy.pid];
      if (d.proxy.started_at) facts.push("up " + duration(Date.now() / 1000 - d.proxy.started_at));
      if (d.proxy.ledger && d.proxy.ledger.pending) facts.push(num(d.proxy.ledger.pending) + " ledger rows waiting");
      $("now-proxy").textContent = facts.join(", ");
      var problems = clear($("now-problems"));
      if (d.proxy.ledger && d.proxy.ledger.last_error) problems.appendChild(el("li", {"class": "bad"}, "ledger: " + d.proxy.ledger.last_error));
      (d.proxy.warnings || []).forEach(function (w) { problems.appendChild(el("li", {"class": "warn"}, w)); });
      $("now-health").textContent = "provider health: " + d.health.state + (d.health.reason ? " – " + d.health.reason : "");
      $("now-health").className = d.health.state === "ok" ? "good" : "warn";
      setValue("now-today-cost", d.today.cost_usd, usd(d.today.cost_usd, d.today.unknown_cost_requests));
      setValue("now-today-requests", d.today.requests, num(d.today.requests));
      setValue("now-month-cost", d.month.cost_usd, usd(d.month.cost_usd, d.month.unknown_cost_requests));
      setValue("now-month-requests", d.month.requests, num(d.month.requests));
      var select = $("model-select"), cur = d.model.current;
      if (document.activeElement !== select) {
        clear(select).appendChild(el("option", {value: ""}, "auto (rules decide)"));
        d.model.models.forEach(function (m) { select.appendChild(el("option", {value: m}, m)); });
        select.value = cur ? cur.model : "";
        $("model-all").checked = !!(cur && cur.force_all);
      }
      $("model-current").textContent = cur ? cur.model + (cur.force_all ? " serves every request" : " serves the main conversation") : "auto: rules decide";
      $("model-current").setAttribute("data-model", cur ? cur.model : "");
      var budgets = clear($("now-budgets"));
      if (!d.budgets.length) budgets.appendChild(row([{text: "no budgets configured"}]));
      d.budgets.forEach(function (b) {
        budgets.appendChild(row([
          {text: b.name}, {text: b.period},
          {text: usd(b.spent_usd), cls: "num spent", attrs: {"data-value": b.spent_usd}},
          {text: usd(b.limit_usd), cls: "num", attrs: {"data-value": b.limit_usd}},
          {text: b.percent.toFixed(1) + "%", cls: "num " + (b.percent >= 100 ? "bad" : b.percent >= 80 ? "warn" : "")},
          {text: b.projected_usd === null ? "–" : usd(b.projected_usd) + (b.reach_limit_at ? ", limit at " + new Date(b.reach_limit_at).toLocaleString() : ""), cls: "num"}
        ], {"data-name": b.name}));
      });
      var sub = clear($("now-subscription"));
      if (!d.subscription) sub.appendChild(el("p", {}, "not known yet (seen on Claude subscription answers)"));
      else Object.keys(d.subscription.windows).forEach(function (name) {
        var w = d.subscription.windows[name];
        sub.appendChild(el("p", {"data-window": name, "class": w.status && w.status !== "allowed" ? "warn" : ""}, w.text));
      });
      d.latest.requests.slice().reverse().forEach(function (r) { addLatest(r, true); });
      if (oldest === null) oldest = d.latest.next_before;
    });
  }
  $("latest-more").addEventListener("click", function () {
    var rows = $("latest-body").querySelectorAll("tr"), last = rows.length ? rows[rows.length - 1].getAttribute("data-id") : null;
    get("api/requests?limit=50" + (last ? "&before=" + last : "")).then(function (d) {
      d.requests.forEach(function (r) { addLatest(r, false); });
      if (!d.next_before) $("latest-more").disabled = true;
    });
  });
  $("model-apply").addEventListener("click", function () {
    var model = $("model-select").value || null;
    $("model-error").textContent = "";
    fetch("api/model", {method: "POST", credentials: "same-origin", headers: {"content-type": "application/json"},
                        body: JSON.stringify({model: model, force_all: $("model-all").checked})})
      .then(function (r) { return r.json().then(function (b) { if (!r.ok) throw new Error(b.error); return b; }); })
      .then(function () { return loadNow(); })
      .catch(function (err) { $("model-error").textContent = err.message; });
  });

  // -- Spend -------------------------------------------------------------------------------------------
  function stackedChart(container, days, keys) {
    clear(container);
    var dates = [], byDay = {};
    days.forEach(function (d) { if (!byDay[d[0]]) { byDay[d[0]] = {}; dates.push(d[0]); } byDay[d[0]][d[1]] = d[2]; });
    var W = 800, H = 240, P = 40, max = 0;
    dates.forEach(function (day) { var s = 0; keys.forEach(function (k) { s += byDay[day][k] || 0; }); max = Math.max(max, s); });
    var chart = svg("svg", {viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "spend per day, stacked"});
    chart.appendChild(svg("line", {x1: P, y1: H - 20, x2: W, y2: H - 20, "class": "axis"}));
    chart.appendChild(svg("text", {x: 0, y: 12}, usd(max)));
    var bw = dates.length ? (W - P) / dates.length : 0;
    dates.forEach(function (day, i) {
      var y = H - 20;
      keys.forEach(function (k, j) {
        var v = byDay[day][k] || 0; if (!v || !max) return;
        var h = v / max * (H - 40);
        var rect = svg("rect", {x: P + i * bw + 1, y: y - h, width: Math.max(1, bw - 2), height: h, fill: COLORS[j % COLORS.length]});
        rect.appendChild(svg("title", {}, day + " " + k + ": " + usd(v)));
        chart.appendChild(rect); y -= h;
      });
      if (dates.length <= 16 || i % Math.ceil(dates.length / 12) === 0) chart.appendChild(svg("text", {x: P + i * bw, y: H - 5}, day.slice(5)));
    });
    if (!dates.length) chart.appendChild(svg("text", {x: W / 2 - 60, y: H / 2}, "no requests in this period"));
    container.appendChild(chart);
  }
  function forecastChart(b) {
    // Spend from the period's start to now (a straight line: the chart knows the total, not its path), then
    // the burn-rate forecast to the period's end, against the limit. x is time within the period.
    var W = 360, H = 130, P = 14, top = Math.max(b.limit_usd, b.projected_usd || 0, b.spent_usd) * 1.15 || 1;
    var span = b.period_end ? b.period_end - b.period_start : 0;
    var nowX = span ? Math.min(1, Math.max(0, (b.now - b.period_start) / span)) * W : W * 0.6;
    function y(v) { return H - P - v / top * (H - 2 * P); }
    var label = b.name + ": spent " + usd(b.spent_usd) + " of " + usd(b.limit_usd) +
      (b.projected_usd === null ? "" : ", forecast " + usd(b.projected_usd) + " by the period's end");
    var chart = svg("svg", {viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": label});
    chart.appendChild(svg("line", {x1: 0, y1: y(0), x2: W, y2: y(0), "class": "axis"}));
    chart.appendChild(svg("line", {x1: 0, y1: y(b.limit_usd), x2: W, y2: y(b.limit_usd), "class": "limit"}));
    chart.appendChild(svg("text", {x: 4, y: y(b.limit_usd) - 3}, "limit " + usd(b.limit_usd)));
    chart.appendChild(svg("line", {x1: nowX, y1: P / 2, x2: nowX, y2: y(0), "class": "axis"}));
    chart.appendChild(svg("path", {d: "M0 " + y(0) + " L" + nowX + " " + y(b.spent_usd), "class": "spent"}));
    if (b.projected_usd !== null) chart.appendChild(svg("path", {d: "M" + nowX + " " + y(b.spent_usd) + " L" + W + " " + y(b.projected_usd), "class": "forecast"}));
    chart.appendChild(svg("text", {x: Math.max(2, nowX - 110), y: Math.min(y(b.spent_usd) - 4, y(0) - 14)}, "spent " + usd(b.spent_usd)));
    if (b.projected_usd !== null) chart.appendChild(svg("text", {x: W - 120, y: Math.max(12, y(b.projected_usd) - 4)}, "forecast " + usd(b.projected_usd)));
    chart.appendChild(svg("text", {x: 2, y: H - 1}, b.period_key));
    return chart;
  }
  function forecastText(b) {
    var text = usd(b.spent_usd) + " of " + usd(b.limit_usd) + " (" + b.percent.toFixed(1) + "%)";
    if (b.projected_usd === null) return text + "; no forecast yet";
    text += "; at this rate " + usd(b.projected_usd) + " by the period's end";
    return b.reach_limit_at ? text + ", the limit at " + new Date(b.reach_limit_at).toLocaleString() : text;
  }
  function spendQuery() {
    var q = "period=" + $("spend-period").value + "&by=" + $("spend-by").value;
    if ($("spend-period").value === "custom") q += "&since=" + ($("spend-since").value || "") + "&until=" + ($("spend-until").value || "");
    return q;
  }
  function loadSpend() {
    return get("api/spend?" + spendQuery()).then(function (d) {
      setValue("spend-total-cost", d.total.cost_usd, usd(d.total.cost_usd, d.total.unknown_cost_requests));
      setValue("spend-total-requests", d.total.requests, num(d.total.requests));
      $("spend-unknown").textContent = d.unknown_cost_models.length ? "no price known for " + d.unknown_cost_models.join(", ") : "";
      $("spend-by-label").textContent = d.by;
      var keys = d.groups.map(function (g) { return g.key; });
      stackedChart($("spend-chart"), d.days, keys);
      var legend = clear($("spend-legend"));
      keys.forEach(function (k, i) {
        // an SVG swatch: the page's CSP allows no inline styles, and a fill attribute is not one
        var item = el("span", {}), swatch = svg("svg", {"class": "swatch", viewBox: "0 0 10 10", "aria-hidden": "true"});
        swatch.appendChild(svg("rect", {width: 10, height: 10, rx: 2, fill: COLORS[i % COLORS.length]}));
        item.appendChild(swatch); item.appendChild(document.createTextNode(k)); legend.appendChild(item);
      });
      var body = clear($("spend-groups"));
      d.groups.forEach(function (g) {
        body.appendChild(row([{text: g.key}, {text: num(g.requests), cls: "num", attrs: {"data-value": g.requests}},
          {text: num(g.input_tokens), cls: "num"}, {text: num(g.output_tokens), cls: "num"},
          {text: usd(g.cost_usd, g.unknown_cost_requests), cls: "num cost", attrs: {"data-value": g.cost_usd}}], {"data-key": g.key}));
      });
      var fc = clear($("spend-forecast"));
      if (!d.budgets.length) fc.appendChild(el("p", {}, "no budgets configured"));
      d.budgets.forEach(function (b) { var box = el("div", {"class": "card chart", "data-name": b.name}); box.appendChild(el("h2", {}, b.name + " (" + b.period + ")")); box.appendChild(forecastChart(b)); box.appendChild(el("p", {"class": "muted"}, forecastText(b))); fc.appendChild(box); });
      var s = clear($("spend-sessions"));
      d.top_sessions.forEach(function (g) { s.appendChild(row([{text: g.key}, {text: num(g.requests), cls: "num"}, {text: usd(g.cost_usd, g.unknown_cost_requests), cls: "num", attrs: {"data-value": g.cost_usd}}])); });
    });
  }
  function customDates() { $("spend-dates").hidden = $("spend-period").value !== "custom"; }
  ["spend-period", "spend-by", "spend-since", "spend-until"].forEach(function (id) {
    $(id).addEventListener("change", function () { customDates(); load("spend"); });
  });
  customDates();

  // -- Routing -----------------------------------------------------------------------------------------
  function loadRouting() {
    return get("api/routing?period=" + $("routing-period").value).then(function (d) {
      $("routing-saved").textContent = usd(d.saved_usd);
      $("routing-saved").setAttribute("data-value", d.saved_usd);
      var body = clear($("routing-body"));
      var max = Math.max.apply(null, [1].concat(d.rules.map(function (r) { return r.requests; })));
      var W = 800, bar = 22, chart = svg("svg", {viewBox: "0 0 " + W + " " + (d.rules.length * bar + 4), role: "img", "aria-label": "requests per rule"});
      d.rules.forEach(function (r, i) {
        body.appendChild(row([{text: r.rule}, {text: num(r.requests), cls: "num", attrs: {"data-value": r.requests}},
          {text: usd(r.cost_usd, r.unknown_cost_requests), cls: "num", attrs: {"data-value": r.cost_usd}},
          {text: usd(r.as_requested_usd) + (r.unpriced_requests ? " (" + r.unpriced_requests + " unpriced)" : ""), cls: "num"},
          {text: usd(r.saved_usd), cls: "num " + (r.saved_usd >= 0 ? "good" : "bad")}], {"data-rule": r.rule}));
        chart.appendChild(svg("rect", {x: 160, y: i * bar + 2, width: (W - 220) * r.requests / max, height: bar - 6, fill: COLORS[i % COLORS.length]}));
        chart.appendChild(svg("text", {x: 0, y: i * bar + 16}, r.rule));
        chart.appendChild(svg("text", {x: 165 + (W - 220) * r.requests / max, y: i * bar + 16}, r.requests));
      });
      clear($("routing-chart")).appendChild(chart);
    });
  }
  $("routing-period").addEventListener("change", function () { load("routing"); });

  // -- A/B ---------------------------------------------------------------------------------------------
  function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%"; }
  function loadAb() {
    return get("api/ab").then(function (d) {
      var box = clear($("ab-body"));
      if (!d.tests.length) box.appendChild(el("p", {}, "no A/B tests configured (ab_tests: in ccproxy.yaml)"));
      d.tests.forEach(function (t) {
        var section = el("section", {"class": "ab-test", "data-test": t.name});
        section.appendChild(el("h2", {}, t.name));
        section.appendChild(el("p", {"class": "muted"}, "rule " + t.label + ", significance " + t.significance +
          ", at least " + num(t.min_samples) + " requests per variant" + (t.enabled ? "" : ", disabled")));
        var verdict = el("p", {"class": "verdict " + (t.winner ? "good" : ""), "data-winner": t.winner || ""});
        if (t.winner) { verdict.appendChild(el("strong", {}, "Winner: " + t.winner)); verdict.appendChild(document.createTextNode(": " + t.reason)); }
        else verdict.textContent = t.reason;
        section.appendChild(verdict);
        if (t.samples_needed) section.appendChild(el("p", {"class": "samples", "data-value": t.samples_needed}, "Samples still needed: " + num(t.samples_needed) + " per variant"));
        var table = el("table", {}), head = el("tr", {});
        ["Variant", "Weight", "Requests", "Success rate", "p50", "p95", "Cost/request"].forEach(function (h, i) { head.appendChild(el("th", {scope: "col", "class": i ? "num" : ""}, h)); });
        table.appendChild(el("thead", {})).appendChild(head);
        var body = table.appendChild(el("tbody", {}));
        (t.variants || []).forEach(function (v) {
          body.appendChild(row([{text: v.model}, {text: v.weight, cls: "num"}, {text: num(v.requests), cls: "num", attrs: {"data-value": v.requests}},
            {text: pct(v.success_rate), cls: "num"}, {text: ms(v.latency_ms.p50), cls: "num"}, {text: ms(v.latency_ms.p95), cls: "num"},
            {text: usd(v.cost_per_request_usd), cls: "num"}], {"data-model": v.model}));
        });
        section.appendChild(el("div", {"class": "scroll"})).appendChild(table);
        box.appendChild(section);
      });
    });
  }

  // -- Health ------------------------------------------------------------------------------------------
  function loadHealth() {
    return get("api/health?period=" + $("health-period").value).then(function (d) {
      $("health-summary").textContent = num(d.requests) + " requests, " + num(d.succeeded) + " succeeded, " + num(d.failed) + " failed";
      var lat = clear($("health-latency"));
      Object.keys(d.latency_ms).forEach(function (k) { var c = el("div", {"class": "card"}); c.appendChild(el("h2", {}, k)); c.appendChild(el("p", {"class": "big"}, ms(d.latency_ms[k]))); lat.appendChild(c); });
      var m = clear($("health-models"));
      d.by_model.forEach(function (r) { m.appendChild(row([{text: r.model}, {text: num(r.requests), cls: "num"}, {text: ms(r.p50), cls: "num"}, {text: ms(r.p95), cls: "num"}])); });
      var e = clear($("health-errors"));
      if (!d.errors.length) e.appendChild(row([{text: "no errors"}]));
      d.errors.forEach(function (r) { e.appendChild(row([{text: r.outcome, cls: "bad"}, {text: r.provider}, {text: num(r.requests), cls: "num"}])); });
    });
  }
  $("health-period").addEventListener("change", function () { load("health"); });

  // -- Config ------------------------------------------------------------------------------------------
  function loadConfig() {
    return get("api/config").then(function (d) {
      var issues = clear($("config-issues"));
      if (!d.issues.length) issues.appendChild(el("li", {"class": "good"}, "both files are valid"));
      d.issues.forEach(function (i) { issues.appendChild(el("li", {"class": i.severity === "error" ? "bad" : "warn"}, i.text)); });
      var reloads = clear($("config-reloads"));
      if (!d.reloads.length) reloads.appendChild(el("li", {}, "no reloads recorded"));
      d.reloads.forEach(function (r) { reloads.appendChild(el("li", {"class": r.kind === "config_error" ? "bad" : ""}, new Date(r.ts * 1000).toLocaleString() + " " + (r.kind === "config_error" ? (r.payload.message || "config error") : "reloaded" + (r.payload.models_changed ? " (model list changed)" : "")))); });
      var files = clear($("config-files"));
      d.files.forEach(function (f) { files.appendChild(el("h2", {}, f.path)); files.appendChild(el("pre", {tabindex: "0"}, f.text)); });
    });
  }

  // -- live --------------------------------------------------------------------------------------------
  // A new request is added to the Now table at once; the page on show is reloaded at most every
  // REFRESH_MS[page], or 20 times as long as its last load took (so one open dashboard keeps below ~5% of a
  // core however large the ledger: docs/benchmarks.md), and not while the browser tab is hidden.
  var REFRESH_MS = {now: 1000, spend: 5000, routing: 5000, health: 5000, ab: 10000, config: 0};
  var stale = {}, lastLoad = {}, timer = null;
  function refreshSoon() {
    if (document.hidden || timer !== null || !stale[page]) return;
    var every = Math.max(REFRESH_MS[page], 20 * (cost[page] || 0));
    var wait = Math.max(300, (lastLoad[page] || 0) + every - Date.now());
    timer = setTimeout(function () {
      timer = null;
      if (document.hidden || !stale[page]) return;
      stale[page] = false; lastLoad[page] = Date.now(); load(page);
    }, wait);
  }
  function changed(pages) {
    pages.forEach(function (p) { stale[p] = true; });
    refreshSoon();
  }
  document.addEventListener("visibilitychange", refreshSoon);
  function connect() {
    var source = new EventSource("api/events");
    source.onopen = function () { $("live").textContent = "live"; };
    source.onerror = function () {
      $("live").textContent = "reconnecting…";
      // The browser retries by itself unless the answer was not a stream (a 401 after the proxy restarted,
      // which ends every session): then ask again in a while; `get` shows "signed out" on a 401.
      if (source.readyState !== EventSource.CLOSED) return;
      setTimeout(function () { get("api/now").then(connect, function (err) { if (err.message !== "401") setTimeout(connect, 5000); }); }, 3000);
    };
    source.addEventListener("request", function (e) { addLatest(JSON.parse(e.data), true); });
    source.addEventListener("event", function (e) {
      var kind = JSON.parse(e.data).kind;
      if (kind === "config_reloaded" || kind === "config_error") changed(["config", "now", "ab"]);
    });
    source.addEventListener("now", function () { changed(["now", "spend", "routing", "health", "ab"]); });
  }
  show(location.hash.slice(1) || "now");
  connect();
})();
