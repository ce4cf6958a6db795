// llmpool dashboard: polls /dashboard/api/state and draws providers, routes, the last
// hour and the last requests; the playground streams through /v1/chat/completions.
// Everything from the server is inserted as text (never as HTML).
"use strict";

const POLL_MS = 2000;
const COLORS = ["#0969da", "#8250df", "#1a7f37", "#bf3989", "#9a6700", "#0a7c86", "#cf222e", "#57606a"];
let token = sessionStorage.getItem("llmpool-token") || "";
let state = null;      // the last snapshot
let clockSkew = 0;     // server time minus local time, ms
let timer = null;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function authHeaders() {
  return token ? { Authorization: "Bearer " + token } : {};
}

async function poll() {
  let resp;
  try {
    resp = await fetch("/dashboard/api/state", { headers: authHeaders(), cache: "no-store" });
  } catch (e) {
    showError("cannot reach the gateway: " + e.message);
    return schedule();
  }
  if (resp.status === 401) {
    askToken(token ? "this key was not accepted" : "");
    return;
  }
  if (!resp.ok) {
    showError("the gateway answered " + resp.status);
    return schedule();
  }
  state = await resp.json();
  clockSkew = state.now_ms - Date.now();
  $("error").hidden = true;
  $("auth").hidden = true;
  $("main").hidden = false;
  render();
  schedule();
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(poll, POLL_MS);
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function askToken(message) {
  $("main").hidden = true;
  $("auth").hidden = false;
  $("auth-error").textContent = message;
  $("token").focus();
}

$("auth").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("llmpool-token", token);
  loadModels();
  poll();
});

// ---- formatting -------------------------------------------------------------------

function fmtNum(n) {
  if (n === null || n === undefined) return "?";
  return n >= 10000 ? (n / 1000).toFixed(n >= 100000 ? 0 : 1) + "k" : String(n);
}

function fmtDuration(ms) {
  if (ms <= 0) return "now";
  const s = Math.ceil(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m ${String(r).padStart(2, "0")}s`;
  return `${r}s`;
}

// The reset in the provider's own zone, short ("06/12, 00:00 PST"); the full zone name
// is the cell's tooltip.
function fmtZoned(iso, zone) {
  if (!iso) return "–";
  const opts = { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
  try {
    return new Date(iso).toLocaleString("en-GB", { ...opts, timeZone: zone || "UTC" });
  } catch (e) {
    return new Date(iso).toLocaleString("en-GB", { ...opts, timeZone: "UTC" });
  }
}

function stateClass(s) {
  if (s === "healthy") return "ok";
  if (s === "rate_limited" || s === "cooling_down" || s === "half_open" || s === "exhausted") return "warn";
  return s === "disabled_no_key" || s === "disabled_by_config" ? "muted" : "bad";
}

function bar(used, max) {
  const cell = el("span", { class: "num" });
  if (max) {
    const share = Math.min(1, used / max);
    const b = el("span", { class: "bar" + (share >= 1 ? " full" : share >= 0.8 ? " high" : "") });
    const fill = el("i");
    fill.style.width = (share * 100).toFixed(1) + "%";
    b.append(fill);
    cell.append(b);
  }
  cell.append(`${fmtNum(used)} / ${fmtNum(max)}`);
  return cell;
}

// The moment a provider or route changes state: its cooldown end, else (when out of
// quota) the daily reset.
function changeAt(item) {
  if (item.cooldown_until) return item.cooldown_until;
  if (item.state === "exhausted") return item.resets_at;
  return null;
}

function countdownCell(item) {
  const at = changeAt(item);
  if (!at) return el("td", {}, "–");
  return el("td", { class: "countdown num", "data-until": at }, fmtDuration(Date.parse(at) - (Date.now() + clockSkew)));
}

function reasonOf(p) {
  if (p.reason) return p.reason;
  if (p.state === "disabled_no_key") return "no API key configured";
  if (p.state === "disabled_by_config") return "enabled = false";
  if (p.state === "healthy") return p.last_error ? "last error: " + p.last_error : "";
  return p.last_error || p.state.replaceAll("_", " ");
}

// ---- rendering --------------------------------------------------------------------

function render() {
  const status = state.status;
  const providers = Object.entries(status.quota_status);
  $("today-count").textContent = providers.reduce((n, [, p]) => n + p.calls_today, 0);
  $("total-count").textContent = state.total;
  $("available").textContent = `${status.available_providers} of ${status.total_providers} providers available`;
  $("updated").textContent = "updated " + new Date().toLocaleTimeString("en-GB");
  renderProviders(providers);
  renderChart(providers.map(([id]) => id));
  renderRequests();
}

function renderProviders(providers) {
  const body = $("providers").tBodies[0];
  const rows = [];
  for (const [id, p] of providers) {
    const zone = state.zones[id];
    const latency = p.latency_ms_ewma === null ? "–" : p.latency_ms_ewma + " ms";
    const success = p.success_rate === null ? "–" : Math.round(p.success_rate * 100) + " %";
    const stateCell = el("td", { class: "state" }, el("span", { class: stateClass(p.state) }, p.state.replaceAll("_", " ")));
    const reason = reasonOf(p);
    if (reason) stateCell.append(el("span", { class: "reason" }, reason));
    rows.push(el("tr", { class: "provider", "data-provider": id, "data-state": p.state },
      el("td", {}, id, p.model ? el("span", { class: "reason" }, p.model) : null),
      stateCell,
      countdownCell(p),
      el("td", {}, bar(p.calls_this_minute, p.max_per_minute)),
      el("td", { class: "day" }, bar(p.calls_today, p.max_daily)),
      el("td", {}, bar(p.tokens_today, p.max_tokens_daily)),
      el("td", {}, bar(p.calls_this_month, p.max_monthly)),
      el("td", { class: "num", title: zone || "UTC" }, fmtZoned(p.resets_at, zone)),
      el("td", { class: "num" }, latency),
      el("td", { class: "num" }, success)));
    for (const r of p.routes) {
      const rs = el("td", { class: "state" }, el("span", { class: stateClass(r.state) }, r.state.replaceAll("_", " ")));
      if (r.reason) rs.append(el("span", { class: "reason" }, r.reason));
      rows.push(el("tr", { class: "route", "data-route": `${id}/${r.model}` },
        el("td", {}, `${r.model} · ${r.key}`),
        rs,
        countdownCell(r),
        el("td", {}, bar(r.calls_this_minute, r.max_per_minute)),
        el("td", {}, bar(r.calls_today, r.max_daily)),
        el("td", {}, bar(r.tokens_today, r.max_tokens_daily)),
        el("td", {}, bar(r.calls_this_month, r.max_monthly)),
        el("td", { class: "num", title: zone || "UTC" }, fmtZoned(r.resets_at, zone)),
        el("td", {}), el("td", {})));
    }
  }
  body.replaceChildren(...rows);
}

function renderChart(ids) {
  const W = 600, H = 160, pad = 18, minutes = 60;
  const nowMin = Math.floor((Date.now() + clockSkew) / 60000);
  const byMinute = new Map(state.minutes.map((m) => [m.minute, m]));
  let peak = 1;
  for (const m of state.minutes) {
    const n = m.providers.reduce((s, [, c]) => s + c, 0) + m.refusals + m.failures;
    peak = Math.max(peak, n);
  }
  const color = (id) => COLORS[Math.max(0, ids.indexOf(id)) % COLORS.length];
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "requests per provider per minute, last hour");
  const shape = (tag, attrs, title) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (title) {
      const t = document.createElementNS(NS, "title");
      t.textContent = title;
      n.append(t);
    }
    svg.append(n);
    return n;
  };
  const colW = (W - pad) / minutes;
  const scale = (H - 2 * pad) / peak;
  shape("line", { x1: pad, y1: H - pad, x2: W, y2: H - pad, stroke: "#d0d7de" });
  for (let i = 0; i < minutes; i++) {
    const minute = nowMin - (minutes - 1 - i);
    const m = byMinute.get(minute);
    if (!m) continue;
    const x = pad + i * colW + 1;
    const label = new Date(minute * 60000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
    let y = H - pad;
    for (const [id, n] of m.providers) {
      const h = n * scale;
      y -= h;
      shape("rect", { x, y, width: colW - 2, height: h, fill: color(id) }, `${label} ${id}: ${n}`);
    }
    if (m.failures > 0) {
      const h = m.failures * scale;
      y -= h;
      shape("rect", { x, y, width: colW - 2, height: h, fill: "#cf222e" }, `${label} failed: ${m.failures}`);
    }
    if (m.refusals > 0) {
      const h = m.refusals * scale;
      y -= h;
      shape("rect", { x, y, width: colW - 2, height: h, fill: "#d4a72c" }, `${label} refused: ${m.refusals}`);
    }
    if (m.failovers > 0) {
      const cx = x + colW / 2 - 1;
      shape("path", { d: `M${cx - 4} ${pad - 10} L${cx + 4} ${pad - 10} L${cx} ${pad - 3} Z`, fill: "#8250df" }, `${label} failovers: ${m.failovers}`);
    }
  }
  shape("text", { x: 0, y: pad - 4, "font-size": 10, fill: "#6e7781" }, null).textContent = String(peak);
  $("chart").replaceChildren(svg);
  const legend = ids.map((id) => el("span", {}, swatch(color(id)), id));
  legend.push(el("span", {}, swatch("#d4a72c"), "refused"), el("span", {}, swatch("#cf222e"), "all failed"),
    el("span", {}, "▼ failover"));
  $("legend").replaceChildren(...legend);
}

function swatch(color) {
  const i = el("i");
  i.style.background = color;
  return i;
}

function trailNode(trail) {
  const box = el("span", { class: "trail" });
  if (!trail) return box;
  for (const entry of trail.split(",")) {
    const cls = entry.endsWith(":ok") ? "o-ok" : entry.includes(":skipped:") ? "o-skip" : "o-fail";
    box.append(el("span", { class: cls }, entry));
  }
  return box;
}

function renderRequests() {
  const rows = state.requests.map((r) => {
    const tokens = r.prompt_tokens === null && r.completion_tokens === null
      ? "–" : `${fmtNum(r.prompt_tokens)} → ${fmtNum(r.completion_tokens)}`;
    const model = el("td", {}, r.model, r.stream ? el("span", { class: "reason" }, "stream") : null);
    if (r.prompt) model.append(el("span", { class: "reason" }, r.prompt));
    return el("tr", { "data-outcome": r.outcome },
      el("td", { class: "num" }, new Date(r.at_ms).toLocaleTimeString("en-GB")),
      model,
      el("td", {}, r.provider || el("span", { class: "bad" }, r.outcome.replaceAll("_", " "))),
      el("td", {}, trailNode(r.trail)),
      el("td", { class: "num" }, r.status),
      el("td", { class: "num" }, r.latency_ms + " ms"),
      el("td", { class: "num" }, tokens));
  });
  $("requests").tBodies[0].replaceChildren(...rows);
}

// Countdowns tick every second between polls.
setInterval(() => {
  const now = Date.now() + clockSkew;
  for (const td of document.querySelectorAll("td.countdown")) {
    td.textContent = fmtDuration(Date.parse(td.dataset.until) - now);
  }
}, 1000);

// ---- playground -------------------------------------------------------------------

async function loadModels() {
  try {
    const resp = await fetch("/v1/models", { headers: authHeaders() });
    if (!resp.ok) return;
    const list = await resp.json();
    // `auto`, then each provider (pins it), then each route (pins that model).
    const ids = list.data.map((m) => m.id);
    const providers = [...new Set(ids.filter((id) => id !== "auto").map((id) => id.split("/")[0]))];
    $("pg-model").replaceChildren(...["auto", ...providers, ...ids.filter((id) => id !== "auto")]
      .map((id) => el("option", { value: id }, id)));
  } catch (e) {
    // The state poll reports an unreachable gateway.
  }
}

$("playground").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const prompt = $("pg-prompt").value.trim();
  if (!prompt) return;
  const out = $("pg-answer");
  out.textContent = "";
  $("pg-trail").replaceChildren();
  $("pg-send").disabled = true;
  try {
    const resp = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify({ model: $("pg-model").value, stream: true, messages: [{ role: "user", content: prompt }] }),
    });
    $("pg-trail").replaceChildren(trailNode(resp.headers.get("x-llmpool-trail") || ""));
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      out.textContent = `error ${resp.status}: ${body.error ? body.error.message : ""}`;
      if (body.error && body.error.trail) $("pg-trail").replaceChildren(trailNode(body.error.trail));
      return;
    }
    await readStream(resp.body, (data) => {
      if (data.error) out.append(`\n[error: ${data.error.message}]`);
      const delta = data.choices && data.choices[0] && data.choices[0].delta;
      if (delta && delta.content) out.append(delta.content);
    });
  } catch (e) {
    out.textContent = "request failed: " + e.message;
  } finally {
    $("pg-send").disabled = false;
    poll();
  }
});

async function readStream(body, onData) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const payload = line.slice(5).trim();
        if (payload === "[DONE]") return;
        try {
          onData(JSON.parse(payload));
        } catch (e) {
          // A line that is not JSON is not an answer chunk.
        }
      }
    }
  }
}

loadModels();
poll();
