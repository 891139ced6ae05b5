// casework dashboard: live countdowns and server-sent updates. No framework, no CDN.
"use strict";

function countdownText(ms) {
  const s = Math.max(0, Math.floor(Math.abs(ms) / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const text = (h ? h + "h " : "") + String(m).padStart(h ? 2 : 1, "0") + "m " + String(r).padStart(2, "0") + "s";
  return ms >= 0 ? "due in " + text : "overdue by " + text;
}

function tick() {
  const now = Date.now();
  document.querySelectorAll(".countdown[data-due]").forEach((el) => {
    const due = Date.parse(el.dataset.due);
    if (Number.isNaN(due)) return;
    el.textContent = countdownText(due - now);
    el.classList.toggle("late", due <= now);
    const card = el.closest(".card");
    if (card && due <= now) card.classList.add("late");
  });
}

function place(column, html) {
  const holder = document.createElement("div");
  holder.innerHTML = html.trim();
  const card = holder.firstElementChild;
  const key = (el) => [Number(el.dataset.rank), el.dataset.opened];
  const [rank, opened] = key(card);
  const cards = column.querySelector(".cards");
  const next = Array.from(cards.children).find((other) => {
    const [r, o] = key(other);
    return r > rank || (r === rank && o > opened);
  });
  cards.insertBefore(card, next || null);
  card.classList.add("fresh");
  while (cards.children.length > 25) cards.lastElementChild.remove();
}

function update(counts, attr) {
  Object.entries(counts || {}).forEach(([name, value]) => {
    const el = document.querySelector("[" + attr + '="' + name + '"]');
    if (el) el.textContent = value;
  });
}

function onCase(data) {
  const c = data.case;
  document.querySelectorAll('.board .card[data-case-id="' + c.case_id + '"]').forEach((el) => el.remove());
  const column = document.querySelector('[data-column="' + c.stage + '"]');
  if (column) place(column, data.html);
  update(data.totals, "data-total");
  update(data.attention, "data-attention");
  tick();
}

function onAlert(a) {
  const list = document.getElementById("alerts");
  if (!list) return;
  const item = document.createElement("li");
  item.textContent = a.received_at.replace("T", " ").slice(0, 16) + " UTC · " + (a.agency_id || "agency unknown")
    + (a.encounter_id ? " · encounter " + a.encounter_id : "") + " · " + a.error_type + ": " + a.error;
  list.prepend(item);
  list.closest(".alerts").classList.remove("empty");
}

// The session's CSRF token: a state-changing request of this page sends it as X-CSRF-Token.
function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// fetch() for the dashboard's own JSON API, with the session's CSRF token.
function send(url, method, body) {
  const headers = { "X-CSRF-Token": csrfToken() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(url, { method, headers, credentials: "same-origin",
                      body: body === undefined ? undefined : JSON.stringify(body) });
}
window.casework = { csrfToken, send };

function listen(page) {
  if (!window.EventSource || page === "login" || page === "audit") return;
  const live = document.getElementById("live");
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => live && live.classList.add("on"));
  source.addEventListener("error", () => {
    if (live) live.classList.remove("on");
    // Refused for good: if the session is over, the sign-in form.
    if (source.readyState === EventSource.CLOSED) {
      fetch("/api/me", { credentials: "same-origin" })
        .then((r) => { if (r.status === 401) window.location.assign("/login"); }, () => {});
    }
  });
  source.addEventListener("ended", () => { source.close(); window.location.assign("/login"); });
  source.addEventListener("reload", () => window.location.reload());
  if (page === "board") {
    source.addEventListener("case", (e) => onCase(JSON.parse(e.data)));
    source.addEventListener("alert", (e) => onAlert(JSON.parse(e.data)));
    source.addEventListener("gone", (e) => {
      const data = JSON.parse(e.data);
      document.querySelectorAll('.card[data-case-id="' + data.case_id + '"]').forEach((el) => el.remove());
      update(data.totals, "data-total");
    });
  } else if (page === "case") {
    const id = document.querySelector(".case").dataset.caseId;
    source.addEventListener("case", (e) => { if (JSON.parse(e.data).case.case_id === id) window.location.reload(); });
    source.addEventListener("gone", (e) => { if (JSON.parse(e.data).case_id === id) window.location.reload(); });
  } else if (page === "aggregates") {
    let stale = false;
    source.addEventListener("stats", () => { stale = true; });
    source.addEventListener("case", () => { stale = true; });
    setInterval(() => { if (stale) window.location.reload(); }, 15000);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  tick();
  setInterval(tick, 1000);
  listen(document.body.dataset.page);
});
