// Switchyard dashboard: reads /dashboard/stream (server-sent events) and draws what it says;
// actions are POSTs carrying this page's token. No library, nothing fetched from elsewhere.
"use strict";

const TOKEN = document.querySelector('meta[name="switchyard-page-token"]').content;
const WINDOW_MS = 5 * 60 * 1000;
const COLOURS = ["#1f5fbf", "#b3261e", "#1b7a3a", "#8a4b00", "#6b3fa0", "#00706e"];
const CLOSES = {
  1000: "closed normally", 1001: "going away", 1006: "connection dropped", 4000: "unknown error",
  4001: "unknown opcode", 4002: "decode error", 4003: "not authenticated",
  4004: "authentication failed", 4005: "already authenticated", 4007: "invalid sequence",
  4008: "rate limited", 4009: "session timed out", 4010: "invalid shard",
  4011: "sharding required", 4012: "invalid API version", 4013: "invalid intents",
  4014: "disallowed intents",
};
const history = [];
let last = {};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const num = (v, digits = 0) =>
  v === null || v === undefined ? "–" : Number(v).toLocaleString("en", { maximumFractionDigits: digits });
const time = (ms) => new Date(ms).toLocaleTimeString("en-GB");
const bytes = (n) => {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
};
const closeText = (code) => (code ? `close ${code}${CLOSES[code] ? ": " + CLOSES[code] : ""}` : "");

// Keeps one child of `parent` per item, by key: rows are updated in place, so that keyboard
// focus and what is typed into a field survive the next snapshot.
function sync(parent, items, key, make, update) {
  const seen = new Set();
  let before = null;
  for (const item of items.slice().reverse()) {
    const k = String(key(item));
    seen.add(k);
    let node = parent.querySelector(`:scope > [data-key="${CSS.escape(k)}"]`);
    if (!node) {
      node = make(item);
      node.dataset.key = k;
    }
    update(node, item);
    if (node.nextSibling !== before || node.parentNode !== parent) parent.insertBefore(node, before);
    before = node;
  }
  for (const child of Array.from(parent.children)) {
    if (child.dataset.key !== undefined && !seen.has(child.dataset.key)) child.remove();
  }
}

function say(message, ok) {
  const box = $("action-result");
  box.textContent = message;
  box.dataset.ok = ok ? "true" : "false";
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { box.textContent = ""; }, 8000);
}

async function act(path, body, button) {
  button.disabled = true;
  try {
    const res = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json", "x-switchyard-page-token": TOKEN },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    let answer = {};
    try { answer = await res.json(); } catch (_) { /* not JSON */ }
    const ok = res.status >= 200 && res.status < 300;
    say(answer.message || (ok ? "Accepted." : `Refused (${res.status}).`), ok);
  } catch (e) {
    say(`The listener did not answer: ${e}`, false);
  } finally {
    button.disabled = false;
  }
}

// ---- shards ----

function poolOf(bot) {
  return (last.pools || []).find((p, i) => p && last.bots[i] && last.bots[i].bot === bot);
}

function shardRow(bot) {
  return (s) => {
    const row = el("tr", { "data-shard": s.id });
    for (let i = 0; i < 9; i += 1) row.append(el("td"));
    for (const i of [3, 4, 5, 6, 7]) row.children[i].className = "num";
    const pool = poolOf(bot);
    if (pool) {
      const id = `move-${bot}-${s.id}`;
      const input = el("input", { id, list: `nodes-${bot}`, autocomplete: "off", placeholder: "node" });
      const button = el("button", { type: "button", class: "secondary", text: "Move" });
      button.addEventListener("click", () => {
        if (!input.value) { input.focus(); say("Type the node to move the shard to.", false); return; }
        act("/dashboard/move", { bot, shard: s.id, to: input.value }, button);
      });
      row.children[8].append(el("div", { class: "move" },
        el("label", { for: id, class: "sr-only", text: `Move shard ${s.id} to node` }), input, button));
    }
    return row;
  };
}

function updateShard(row, s) {
  row.dataset.state = s.state;
  const c = row.children;
  const badge = c[1].firstChild || c[1].appendChild(el("span", { class: "state" }));
  badge.dataset.state = s.state;
  badge.textContent = s.state;
  c[0].textContent = s.id;
  c[2].textContent = s.node || "this process";
  c[3].textContent = s.latency_ms === null ? "–" : `${num(s.latency_ms, 1)} ms`;
  c[4].textContent = num(s.seq);
  c[5].textContent = num(s.guilds);
  c[6].textContent = num(s.events_per_s, 1);
  c[7].textContent = num(s.queue_depth);
  let error = c[8].querySelector(".error");
  if (s.error && !error) error = c[8].insertBefore(el("span", { class: "error" }), c[8].firstChild);
  if (error) error.textContent = s.error ? `${s.error} ` : "";
}

function botSection(b) {
  const heads = ["Shard", "State", "Node", "Latency", "Sequence", "Guilds", "Events/s", "Queue", poolOf(b.bot) ? "Move to" : "Notes"];
  const table = el("table", {},
    el("caption", { class: "sr-only", text: `Shards of bot ${b.bot}` }),
    el("thead", {}, el("tr", {}, ...heads.map((h, i) => el("th", { scope: "col", class: i >= 3 && i <= 7 ? "num" : null, text: h })))),
    el("tbody"));
  return el("div", { class: "bot", "data-bot": b.bot },
    el("h3", {}), el("datalist", { id: `nodes-${b.bot}` }),
    el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": `Shards of bot ${b.bot}` }, table));
}

function updateBot(node, b) {
  node.dataset.shardCount = b.shard_count ?? "";
  node.querySelector("h3").textContent =
    `Bot ${b.bot}: ${num(b.shard_count)} shards, ${num(b.here)} here, ${num(b.ready)} ready` +
    ` · identifies left ${num(b.identifies_remaining)}`;
  const pool = poolOf(b.bot);
  const options = (pool && pool.nodes) || [];
  sync(node.querySelector("datalist"), options.map((n) => ({ n })), (o) => o.n,
    (o) => el("option", { value: o.n }), () => {});
  sync(node.querySelector("tbody"), b.shards, (s) => s.id, shardRow(b.bot), updateShard);
}

// ---- pool, services, broker, REST, cache, recent ----

function renderPools() {
  const pools = (last.pools || []).map((p, i) => p && { ...p, bot: last.bots[i] && last.bots[i].bot }).filter(Boolean);
  $("pool-section").hidden = pools.length === 0;
  sync($("pools"), pools, (p) => p.bot, (p) => el("div", { "data-pool": p.bot }, el("p"), el("ul")), (node, p) => {
    node.querySelector("p").textContent =
      `Bot ${p.bot}: this node is ${p.node}${p.coordinator ? " (coordinator)" : ""}${p.draining ? ", drained" : ""}` +
      (p.moves && p.moves.length ? ` · moving: ${p.moves.map((m) => `shard ${m.shard} ${m.from} → ${m.to}`).join(", ")}` : "");
    const nodes = p.nodes && p.nodes.length ? p.nodes : [p.node];
    const owned = (n) => Object.entries(p.owners || {}).filter(([, o]) => o === n).map(([s]) => s);
    sync(node.querySelector("ul"), nodes.map((n) => ({ n })), (o) => o.n, (o) => {
      const drain = el("button", { type: "button", class: "secondary", text: "Drain", "aria-label": `Drain node ${o.n}` });
      const undrain = el("button", { type: "button", class: "secondary", text: "Undrain", "aria-label": `Undrain node ${o.n}` });
      drain.addEventListener("click", () => {
        if (confirm(`Drain node ${o.n}? Its shards move to the other nodes.`)) act("/dashboard/drain", { bot: p.bot, node: o.n, drain: true }, drain);
      });
      undrain.addEventListener("click", () => act("/dashboard/drain", { bot: p.bot, node: o.n, drain: false }, undrain));
      return el("li", { "data-node": o.n }, el("span"), " ", drain, " ", undrain);
    }, (li, o) => {
      const shards = owned(o.n);
      li.firstChild.textContent = `${o.n}${shards.length ? `: shards ${shards.join(", ")}` : ""} `;
    });
  });
}

function renderServices() {
  const services = last.services || [];
  const box = $("services");
  if (!services.length) {
    if (!box.querySelector("p")) box.replaceChildren(el("p", { class: "muted", text: "None." }));
    return;
  }
  let tbody = box.querySelector("tbody");
  if (!tbody) {
    tbody = el("tbody");
    box.replaceChildren(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Services" },
      el("table", {}, el("thead", {}, el("tr", {}, ...["Service", "Instance", "Version", "Last heard", "Actions"]
        .map((h) => el("th", { scope: "col", text: h })))), tbody)));
  }
  sync(tbody, services, (s) => `${s.name}/${s.instance}`, (s) => {
    const who = `${s.name} ${s.instance}`;
    const down = el("button", { type: "button", class: "danger", text: "Shut down", "aria-label": `Shut down ${who}` });
    const reboot = el("button", { type: "button", class: "secondary", text: "Reboot", "aria-label": `Reboot ${who}` });
    down.addEventListener("click", () => {
      if (confirm(`Send SHUTDOWN to ${who}?`)) act("/dashboard/service", { op: "shutdown", service: s.name, instance: s.instance }, down);
    });
    reboot.addEventListener("click", () => {
      if (confirm(`Send REBOOT to ${who}?`)) act("/dashboard/service", { op: "reboot", service: s.name, instance: s.instance }, reboot);
    });
    return el("tr", { "data-service": s.name, "data-instance": s.instance },
      el("td"), el("td"), el("td"), el("td"), el("td", {}, down, " ", reboot));
  }, (row, s) => {
    row.children[0].textContent = s.name;
    row.children[1].textContent = s.instance;
    row.children[2].textContent = s.version;
    row.children[3].textContent = `${num(s.last_seen_s)} s ago`;
  });
}

// Worker groups as the services announced them in IDENTIFY, with their members.
function renderGroups() {
  const groups = last.groups || [];
  const box = $("groups");
  if (!groups.length) {
    if (!box.querySelector("p")) box.replaceChildren(el("p", { class: "muted", text: "No service announced a worker group." }));
    return;
  }
  let tbody = box.querySelector("tbody");
  if (!tbody) {
    tbody = el("tbody");
    box.replaceChildren(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Worker groups" },
      el("table", {}, el("thead", {}, el("tr", {}, ...["Group", "Kind", "Pattern", "Members"]
        .map((h) => el("th", { scope: "col", text: h })))), tbody)));
  }
  sync(tbody, groups, (g) => `${g.name}/${g.kind}/${g.pattern}`,
    (g) => el("tr", { "data-group": g.name }, el("td"), el("td"), el("td"), el("td")),
    (row, g) => {
      row.children[0].textContent = g.name;
      row.children[1].textContent = g.kind;
      row.children[2].textContent = g.pattern;
      row.children[3].textContent = `${g.members.length}: ${g.members.join(", ")}`;
    });
}

function deadText(d) {
  if (!d) return undefined;
  if (d.kept === false) return "not kept (durable mode only)";
  if (d.error) return `unknown: ${d.error}`;
  const groups = Object.entries(d.groups || {}).map(([g, n]) => `${g}: ${num(n)}`).join(", ");
  return `${num(d.count)}${groups ? ` (${groups})` : ""}`;
}

function groupsText(g) {
  if (!g) return undefined;
  if (g.kept === false) return "none (durable mode only)";
  if (g.error) return `unknown: ${g.error}`;
  const plural = (n, what) => `${num(n)} ${what}${n === 1 ? "" : "s"}`;
  return (g.groups || []).map((x) => {
    const members = x.waiting_pulls === null || x.waiting_pulls === undefined
      ? plural(x.members.length, "member")
      : plural(x.waiting_pulls, "waiting pull");
    const unread = x.unread === null || x.unread === undefined ? "" : `, ${num(x.unread)} unread`;
    return `${x.name}: ${members}, ${num(x.pending)} unacknowledged${unread}`;
  }).join("; ") || "none";
}

function figures(dl, pairs) {
  dl.replaceChildren(...pairs.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
}

function renderBroker() {
  const b = last.broker || {};
  figures($("broker"), [
    ["Backend", b.backend || "–"],
    ["URL", b.url || "–"],
    ["RESP port", b.resp || undefined],
    ["RESP clients", b.resp_clients === undefined ? undefined : num(b.resp_clients)],
    ["Published/s", b.published_per_s === undefined ? undefined : num(b.published_per_s, 1)],
    ["Dropped (slow subscribers)", b.dropped === undefined ? undefined : num(b.dropped)],
    ["Undeliverable", b.undeliverable === undefined ? undefined : num(b.undeliverable)],
    ["ZeroMQ dropped", b.zmq_dropped === undefined ? undefined : num(b.zmq_dropped)],
    ["Dead letters", deadText(b.dead_letters)],
    ["Durable groups announced", (b.durable_groups || []).map((g) => `${g.name}: ${g.members.length} member${g.members.length === 1 ? "" : "s"}`).join(", ") || "none announced"],
    ["Durable groups on the broker", groupsText(b.groups_on_broker)],
  ]);
}

function renderRest() {
  const r = last.rest;
  if (!r) return;
  const dl = el("dl", { class: "figures" });
  figures(dl, [
    ["Requests/s", num(r.requests_per_s, 1)],
    ["Requests", num(r.requests)],
    ["By status", Object.entries(r.by_status || {}).map(([k, v]) => `${k}: ${num(v)}`).join(", ") || "–"],
    ["429s from Discord (should be 0)", num(r.upstream_429)],
    ["429s answered by the limiter", num(r.synthetic_429)],
    ["Queued now", r.queued === null || r.queued === undefined ? undefined : num(r.queued)],
    ["Limiters", num(r.limiters)],
    ["Busiest routes", (r.busiest || []).map((b) => `${b.route} ${num(b.per_s, 1)}/s`).join(", ") || "–"],
    ["Busiest buckets", r.busiest_buckets ? (r.busiest_buckets.map((b) =>
      `${b.route}${b.major ? ` [${b.major}]` : ""} ${num(b.per_s, 1)}/s, ${num(b.waiting)} waiting`).join("; ") || "–") : undefined],
  ]);
  $("rest").replaceChildren(dl);
}

function renderCache() {
  const caches = last.cache || [];
  if (!caches.length) return;
  $("cache").replaceChildren(...caches.map((c) => {
    const dl = el("dl", { class: "figures", "data-cache": c.bot });
    figures(dl, [["Bot", c.bot], ["Guilds", num(c.guilds)], ["Members", num(c.members)], ["Memory", bytes(c.memory_bytes)]]);
    return dl;
  }));
}

function renderRecent() {
  const items = last.recent || [];
  sync($("recent"), items, (c) => `${c.at_ms}/${c.bot}/${c.shard}/${c.state}`, (c) => {
    const why = [closeText(c.close), c.error].filter(Boolean).join("; ");
    return el("li", { "data-shard": c.shard, "data-state": c.state, "data-at": c.at_ms },
      el("time", { datetime: new Date(c.at_ms).toISOString(), text: time(c.at_ms) }),
      ` · bot ${c.bot} shard ${c.shard} → ${c.state}${why ? ` (after ${why})` : ""}`);
  }, () => {});
  if (!items.length && !$("recent").children.length) $("recent").append(el("li", { text: "No shard changes yet." }));
  for (const li of Array.from($("recent").children)) if (!li.dataset.key && items.length) li.remove();
}

// ---- charts ----

const SVG = "http://www.w3.org/2000/svg";

function drawChart(svg, series, now) {
  for (const old of Array.from(svg.querySelectorAll("polyline, text"))) old.remove();
  const max = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1])));
  const x = (t) => ((t - (now - WINDOW_MS)) / WINDOW_MS) * 600;
  const y = (v) => 155 - (v / max) * 145;
  for (const s of series) {
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("stroke", s.colour);
    line.setAttribute("points", s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
    line.dataset.series = s.name;
    svg.append(line);
  }
  const label = document.createElementNS(SVG, "text");
  label.setAttribute("x", "4");
  label.setAttribute("y", "14");
  label.setAttribute("class", "axis");
  label.textContent = `max ${num(max, 1)}`;
  svg.append(label);
}

function renderCharts() {
  const now = history.length ? history[history.length - 1].at_ms : Date.now();
  const recent = history.filter((p) => p.at_ms >= now - WINDOW_MS);
  const totals = {};
  for (const p of recent) for (const [k, v] of Object.entries(p.events_per_s || {})) totals[k] = (totals[k] || 0) + (v || 0);
  const types = Object.keys(totals).sort((a, b) => totals[b] - totals[a]).slice(0, COLOURS.length);
  const series = types.map((name, i) => ({
    name, colour: COLOURS[i],
    points: recent.filter((p) => p.events_per_s && p.events_per_s[name] !== null && p.events_per_s[name] !== undefined)
      .map((p) => [p.at_ms, p.events_per_s[name]]),
  }));
  const latest = recent.length ? recent[recent.length - 1] : {};
  const latestTotal = Object.values(latest.events_per_s || {}).reduce((a, v) => a + (v || 0), 0);
  const chart = $("events-chart");
  drawChart(chart, series, now);
  chart.dataset.latest = latestTotal;
  $("events-desc").textContent = types.length
    ? `Latest: ${types.map((t) => `${t} ${num((latest.events_per_s || {})[t], 1)} per second`).join(", ")}.`
    : "No events yet.";
  sync($("events-legend"), series, (s) => s.name, () => el("li", {}, el("span", { class: "swatch", "aria-hidden": "true" }), el("span")), (li, s) => {
    li.firstChild.style.background = s.colour;
    li.lastChild.textContent = `${s.name}: ${num((latest.events_per_s || {})[s.name], 1)}/s`;
  });
  const queue = $("queue-chart");
  drawChart(queue, [{ name: "queue", colour: COLOURS[0], points: recent.map((p) => [p.at_ms, p.queue_depth || 0]) }], now);
  queue.dataset.latest = latest.queue_depth || 0;
  $("queue-desc").textContent = `Latest depth: ${num(latest.queue_depth || 0)} events.`;
}

// ---- the stream ----

function render() {
  $("meta").textContent = `${last.command ? "switchyard " + last.command : ""} ${last.version || ""} · up ${num(last.uptime_s)} s`;
  const bots = last.bots || [];
  if (bots.length) {
    const box = $("bots");
    for (const p of Array.from(box.querySelectorAll(":scope > p"))) p.remove();
    sync(box, bots, (b) => b.bot, botSection, updateBot);
  }
  renderPools();
  renderServices();
  renderGroups();
  renderBroker();
  renderRest();
  renderCache();
  renderRecent();
  renderCharts();
}

function connect() {
  const source = new EventSource("/dashboard/stream");
  const conn = $("conn");
  source.addEventListener("open", () => { conn.textContent = "Live"; conn.dataset.state = "live"; });
  source.addEventListener("error", () => { conn.textContent = "Reconnecting…"; conn.dataset.state = "lost"; });
  source.addEventListener("history", (e) => {
    history.length = 0;
    for (const p of JSON.parse(e.data)) if (p.at_ms) history.push(p);
    renderCharts();
  });
  source.addEventListener("snapshot", (e) => {
    last = JSON.parse(e.data);
    if (!last.at_ms) return;
    if (!history.length || history[history.length - 1].at_ms < last.at_ms) {
      history.push({ at_ms: last.at_ms, events_per_s: last.events_per_s, queue_depth: last.queue_depth });
      while (history.length && history[0].at_ms < last.at_ms - WINDOW_MS) history.shift();
    }
    render();
  });
}

connect();
