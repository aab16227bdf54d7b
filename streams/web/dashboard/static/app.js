// The border-surge dashboard: polls the worker's JSON API and updates only what changed.
// No framework, no build step, no request to any other origin (the page's CSP forbids it).
"use strict";

(() => {
  const ICON = { learning: "○", ok: "✓", pending: "…", warning: "!", critical: "▲" };
  const RANK = { critical: 0, warning: 1, pending: 2, ok: 3, learning: 4 };
  const ARROW = "→";
  const SVG = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);
  const bordersEl = $("borders");
  const template = $("row-template");
  const rows = new Map(); // subject -> row state (border "RU-GE" or post "narva:RU-EE")
  const etags = new Map(); // url -> {tag, data}
  let refreshMs = 3000;
  let filterText = "";
  let failures = 0;

  // Tests read this to prove the page was never reloaded.
  window.borderSurgeLoadedAt = Date.now();

  async function getJson(url) {
    const cached = etags.get(url);
    const headers = cached ? { "If-None-Match": cached.tag } : {};
    const r = await fetch(url, { headers, cache: "no-store" });
    if (r.status === 304 && cached) return { changed: false, data: cached.data };
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    const data = await r.json();
    const tag = r.headers.get("ETag");
    if (tag) etags.set(url, { tag, data });
    return { changed: true, data };
  }

  const shortTime = (iso) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z` : "–");
  const hhmm = (iso) => (iso ? `${iso.slice(11, 16)}Z` : "–");
  const fmtRatio = (r) => (r === undefined || r === null ? "–" : `×${r.toFixed(2)}`);
  const fmtNum = (n) => (n === undefined || n === null ? "–" : Number(n).toLocaleString("en"));
  const pairLabel = (f, t) => `${f}\u00a0${ARROW}\u00a0${t}`;

  // -- rows ---------------------------------------------------------------------------------

  function makeRow(subject, kind, label) {
    const li = template.content.firstElementChild.cloneNode(true);
    const id = `row-${subject.replace(/[^A-Za-z0-9-]/g, "_")}`;
    li.id = id;
    li.classList.add(kind);
    li.dataset.subject = subject;
    const button = li.querySelector(".toggle");
    const detail = li.querySelector(".detail");
    detail.id = `${id}-detail`;
    button.setAttribute("aria-controls", detail.id);
    li.querySelector(".label").textContent = label;
    li.querySelector(".name").setAttribute("aria-level", kind === "border" ? "3" : "4");
    const row = {
      subject, kind, li, button, detail,
      badge: li.querySelector(".badge"),
      icon: li.querySelector(".icon"),
      word: li.querySelector(".word"),
      ratio: li.querySelector(".ratio-value"),
      counts: li.querySelector(".counts"),
      extra: li.querySelector(".extra"),
      plot: li.querySelector(".plot"),
      caption: li.querySelector("figcaption"),
      sig: "", state: "", data: null, chartEnd: null, postsEl: null, order: "", series: null,
    };
    if (kind === "border") {
      row.postsEl = document.createElement("ul");
      row.postsEl.className = "rows posts";
      row.postsEl.setAttribute("aria-label", `Posts of ${label}`);
      detail.appendChild(row.postsEl);
    }
    button.addEventListener("click", () => toggle(row));
    rows.set(subject, row);
    return row;
  }

  function toggle(row) {
    const open = row.button.getAttribute("aria-expanded") !== "true";
    row.button.setAttribute("aria-expanded", String(open));
    row.detail.hidden = !open;
    row.li.classList.toggle("open", open);
    if (open) {
      row.chartEnd = null; // fetch now
      refreshChart(row);
    }
  }

  function updateRow(row, d, extraText) {
    const sig = `${d.state}|${d.ratio}|${d.observed}|${d.expected}|${d.window_end}|${extraText}`;
    if (sig === row.sig) return false;
    row.sig = sig;
    const previous = row.state;
    row.state = d.state;
    row.data = d;
    row.li.dataset.state = d.state;
    row.badge.dataset.state = d.state;
    row.icon.textContent = ICON[d.state] || "?";
    row.word.textContent = d.state;
    row.ratio.textContent = fmtRatio(d.ratio);
    row.counts.textContent = d.expected === undefined
      ? `${fmtNum(d.observed)} travellers`
      : `${fmtNum(d.observed)} vs ${fmtNum(d.expected)} expected · ${hhmm(d.window_end)}`;
    row.extra.textContent = extraText;
    if (previous && previous !== d.state && (d.state === "critical" || d.state === "warning")) {
      announce(`${row.button.textContent.trim()} is now ${d.state}`);
    }
    return true;
  }

  function announce(text) {
    $("announce").textContent = text;
  }

  function byRank(a, b) {
    return (RANK[a.state] - RANK[b.state]) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  }

  // Re-append children only when their order changed: moving nodes is the expensive part.
  function placeInOrder(parent, holder, items) {
    const order = items.map((it) => it.key).join("\n");
    if (holder.order === order) return;
    holder.order = order;
    const frag = document.createDocumentFragment();
    for (const it of items) frag.appendChild(rows.get(it.key).li);
    parent.appendChild(frag);
  }

  function renderOverview(data) {
    refreshMs = Math.max(500, (data.refresh_seconds || 3) * 1000);
    const tally = { critical: 0, warning: 0, pending: 0, ok: 0, learning: 0 };
    const seen = new Set();
    const borderOrder = [];
    for (const b of data.borders) {
      const key = b.border;
      seen.add(key);
      const row = rows.get(key) || makeRow(key, "border", `${pairLabel(b.from_country, b.to_country)}`);
      const postOrder = [];
      const alerting = { critical: 0, warning: 0 };
      for (const p of b.posts) {
        const pkey = `${p.crossing_id}:${key}`;
        seen.add(pkey);
        const prow = rows.get(pkey) || makeRow(pkey, "post", `${p.crossing_id} ${pairLabel(b.from_country, b.to_country)}`);
        updateRow(prow, p, "");
        tally[p.state] = (tally[p.state] || 0) + 1;
        if (p.state in alerting) alerting[p.state] += 1;
        postOrder.push({ key: pkey, state: p.state });
      }
      const n = b.posts.length;
      let extra = `${n} post${n === 1 ? "" : "s"}`;
      if (alerting.critical) extra += ` · ${alerting.critical} critical`;
      if (alerting.warning) extra += ` · ${alerting.warning} warning`;
      updateRow(row, b, extra);
      tally[b.state] = (tally[b.state] || 0) + 1;
      postOrder.sort(byRank);
      placeInOrder(row.postsEl, row, postOrder);
      borderOrder.push({ key, state: b.state });
    }
    for (const [key, row] of rows) {
      if (!seen.has(key)) {
        row.li.remove();
        rows.delete(key);
      }
    }
    borderOrder.sort(byRank);
    placeInOrder(bordersEl, bordersEl, borderOrder);
    $("empty").hidden = data.borders.length > 0;
    const tallyEl = $("tally");
    tallyEl.replaceChildren();
    for (const s of ["critical", "warning", "pending", "ok", "learning"]) {
      const span = document.createElement("span");
      span.className = "badge";
      span.dataset.state = s;
      span.textContent = `${ICON[s]} ${tally[s] || 0} ${s}`;
      tallyEl.appendChild(span);
    }
    applyFilter();
  }

  function applyFilter() {
    const q = filterText;
    for (const row of rows.values()) {
      if (row.kind !== "border") continue;
      let match = !q || row.subject.toLowerCase().includes(q) || row.button.textContent.toLowerCase().includes(q);
      if (!match) {
        for (const li of row.postsEl.children) {
          if (li.dataset.subject.toLowerCase().includes(q)) { match = true; break; }
        }
      }
      row.li.hidden = !match;
    }
  }

  // -- charts -------------------------------------------------------------------------------

  async function refreshChart(row) {
    if (!row.data || !row.data.window_end) {
      row.caption.textContent = "Not evaluated yet: no chart.";
      return;
    }
    if (row.chartEnd === row.data.window_end && row.plot.firstChild) return;
    const url = `/dashboard/series/${encodeURIComponent(row.subject)}`;
    try {
      const { changed, data } = await getJson(url);
      if (changed || !row.plot.firstChild) drawChart(row, data);
      row.chartEnd = row.data.window_end;
    } catch (err) {
      row.caption.textContent = `Chart unavailable: ${err.message}`;
    }
  }

  function el(name, attrs) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  // A path through the points, broken where a value is missing.
  function linePath(values, x, y) {
    let d = "";
    let pen = false;
    values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    return d;
  }

  function bandPath(lower, upper, x, y) {
    let d = "";
    let run = [];
    const flush = () => {
      if (run.length > 1) {
        d += `M${run.map((i) => `${x(i).toFixed(1)},${y(upper[i]).toFixed(1)}`).join("L")}`;
        d += `L${run.slice().reverse().map((i) => `${x(i).toFixed(1)},${y(lower[i]).toFixed(1)}`).join("L")}Z`;
      }
      run = [];
    };
    upper.forEach((u, i) => {
      if (u === null || lower[i] === null) flush(); else run.push(i);
    });
    flush();
    return d;
  }

  function niceStep(max) {
    const raw = max / 4;
    const mag = 10 ** Math.floor(Math.log10(raw || 1));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
    return 10 * mag;
  }

  // Drawn at the plot's own pixel width, so text and lines are never stretched.
  function drawChart(row, s) {
    row.series = s;
    const W = Math.max(320, Math.round(row.plot.clientWidth || 640));
    const H = 200, L = 48, R = 8, T = 10, B = 26;
    const n = s.observed.length;
    const numbers = [...s.observed, ...s.upper, ...s.expected].filter((v) => v !== null);
    const top = Math.max(1, ...numbers) * 1.08;
    const x = (i) => L + (n <= 1 ? 0 : (i * (W - L - R)) / (n - 1));
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "plot-svg" });
    const titleId = `${row.li.id}-title`;
    const descId = `${row.li.id}-desc`;
    svg.setAttribute("aria-labelledby", `${titleId} ${descId}`);
    const title = el("title", { id: titleId });
    title.textContent = `${row.button.textContent.trim()}: travellers per ${s.window_minutes} minutes, last ${Math.round((n * s.step_minutes) / 60)} hours`;
    svg.appendChild(title);
    const last = n - 1;
    const desc = el("desc", { id: descId });
    desc.textContent = `Latest ${fmtNum(s.observed[last])}, expected ${fmtNum(s.expected[last])}, normal range ${fmtNum(s.lower[last])} to ${fmtNum(s.upper[last])}.`;
    svg.appendChild(desc);

    const grid = el("g", { class: "grid", "aria-hidden": "true" });
    const step = niceStep(top);
    for (let v = 0; v <= top; v += step) {
      grid.appendChild(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      const t = el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" });
      t.textContent = fmtNum(v);
      grid.appendChild(t);
    }
    // Time ticks on whole 6-hour marks of UTC.
    const firstMs = Date.parse(s.first_end);
    const stepMs = s.step_minutes * 60000;
    for (let i = 0; i < n; i++) {
      const t = new Date(firstMs + i * stepMs);
      if (t.getUTCMinutes() === 0 && t.getUTCHours() % 6 === 0) {
        grid.appendChild(el("line", { x1: x(i), x2: x(i), y1: T, y2: H - B, class: "vtick" }));
        const label = el("text", { x: x(i), y: H - 8, "text-anchor": "middle" });
        const hh = String(t.getUTCHours()).padStart(2, "0");
        label.textContent = t.getUTCHours() === 0 ? `${t.toISOString().slice(5, 10)}` : `${hh}:00`;
        grid.appendChild(label);
      }
    }
    svg.appendChild(grid);
    svg.appendChild(el("path", { d: bandPath(s.lower, s.upper, x, y), class: "band" }));
    svg.appendChild(el("path", { d: linePath(s.expected, x, y), class: "expected" }));
    svg.appendChild(el("path", { d: linePath(s.observed, x, y), class: "observed" }));
    const over = s.observed.map((v, i) => (v !== null && s.upper[i] !== null && v > s.upper[i] ? v : null));
    svg.appendChild(el("path", { d: linePath(over, x, y), class: "over" }));
    row.plot.replaceChildren(svg);
    row.caption.textContent = `Rolling ${s.window_minutes}-minute count, ${shortTime(s.first_end)} to ${shortTime(s.last_end)} (window ends, every ${s.step_minutes} min).`;
  }

  // -- alerts -------------------------------------------------------------------------------

  function alertItem(a) {
    const li = document.createElement("li");
    li.className = "alert";
    li.dataset.state = a.status === "open" ? a.severity : "resolved";
    li.dataset.alertId = a.alert_id;
    const head = document.createElement("p");
    head.className = "alert-head";
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.dataset.state = a.status === "open" ? a.severity : "resolved";
    badge.textContent = a.status === "open" ? `${ICON[a.severity]} ${a.severity}` : `✓ resolved (${a.severity})`;
    const name = document.createElement("strong");
    name.textContent = a.crossing_id ? `${a.crossing_id} ${pairLabel(a.from_country, a.to_country)}` : `border ${pairLabel(a.from_country, a.to_country)}`;
    const facts = document.createElement("span");
    facts.className = "facts";
    facts.textContent = `started ${shortTime(a.started)}` +
      (a.resolved ? ` · resolved ${shortTime(a.resolved)}` : "") +
      ` · peak ${fmtRatio(a.peak_ratio)}`;
    head.append(badge, " ", name, " ", facts);
    li.appendChild(head);
    const hist = document.createElement("ol");
    hist.className = "history";
    hist.setAttribute("aria-label", "Severity history");
    for (const h of a.history) {
      const item = document.createElement("li");
      item.dataset.state = h.status === "resolved" ? "resolved" : h.severity;
      item.textContent = `${shortTime(h.at)} ${h.status === "resolved" ? "resolved" : h.severity} ${fmtRatio(h.ratio)}`;
      hist.appendChild(item);
    }
    li.appendChild(hist);
    return li;
  }

  function renderAlerts(data) {
    $("open-alerts").replaceChildren(...data.open.map(alertItem));
    $("resolved-alerts").replaceChildren(...data.resolved.map(alertItem));
    $("open-empty").hidden = data.open.length > 0;
    $("resolved-empty").hidden = data.resolved.length > 0;
  }

  // -- the loop -----------------------------------------------------------------------------

  async function tick() {
    try {
      const [ov, al] = await Promise.all([getJson("/dashboard/overview"), getJson("/dashboard/alerts")]);
      if (ov.changed) renderOverview(ov.data);
      if (al.changed) renderAlerts(al.data);
      const open = [...rows.values()].filter((r) => r.button.getAttribute("aria-expanded") === "true");
      await Promise.all(open.map(refreshChart));
      failures = 0;
      const n = ov.data.borders.length;
      $("updated").textContent = `Updated ${new Date().toLocaleTimeString("en-GB")} · ${n} border${n === 1 ? "" : "s"}, ${ov.data.directions} posts`;
      document.body.dataset.live = "true";
    } catch (err) {
      failures += 1;
      document.body.dataset.live = "false";
      $("updated").textContent = `Connection problem (${err.message}); retrying…`;
    } finally {
      setTimeout(tick, failures ? Math.min(30000, refreshMs * 2 ** Math.min(failures, 4)) : refreshMs);
    }
  }

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const row of rows.values()) {
        if (row.series && !row.detail.hidden) drawChart(row, row.series);
      }
    }, 200);
  });

  $("filter").addEventListener("input", (e) => {
    filterText = e.target.value.trim().toLowerCase();
    applyFilter();
  });
  tick();
})();
