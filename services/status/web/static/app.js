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

function listen(page) {
  if (!window.EventSource || page === "login" || page === "audit" || page === "disclosure") return;
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

// -- actions on the case page: JSON to the API, with the session's CSRF token -------------

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function send(method, url, body) {
  const headers = { "X-CSRF-Token": csrfToken(), "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, { method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { ok: response.ok, status: response.status, data };
}

function milestoneOf(form) {
  const kind = form.elements.kind.value;
  const checked = (name) => Boolean(form.elements[name] && form.elements[name].checked);
  if (kind === "needs_assessed") {
    return { kind, urgent_needs: Array.from(form.querySelectorAll('input[name="urgent_needs"]:checked')).map((el) => el.value) };
  }
  if (kind === "urgent_need_met") return { kind, need: form.elements.need.value };
  if (kind === "interpreter_arranged") {
    return { kind, language: form.elements.language.value, mode: form.elements.mode.value, attestations: {
      no_relationship_to_person: checked("no_relationship_to_person"), no_ties_to_trafficker: checked("no_ties_to_trafficker"),
      not_victim_advocate: checked("not_victim_advocate"), gender_preference_respected: checked("gender_preference_respected") } };
  }
  return { kind };
}

function serviceOf(form) {
  const share = Array.from(form.querySelectorAll('input[name="share"]:checked')).map((el) => el.value);
  return { need: form.elements.need.value, provider_id: form.elements.provider_id.value, share };
}

async function pickProviders(form) {
  const select = form.elements.provider_id;
  const spoken = (form.dataset.languages || "").split(" ").filter(Boolean).map((t) => t.split("-")[0].toLowerCase());
  const query = new URLSearchParams({ kind: form.elements.need.value });
  if (form.dataset.region) query.set("region", form.dataset.region);
  const found = await send("GET", "/api/providers?" + query.toString());
  select.replaceChildren();
  const items = found.ok ? found.data.items : [];
  items.forEach((p) => {
    const option = document.createElement("option");
    option.value = p.provider_id;
    const speaks = p.languages.some((t) => spoken.includes(t.split("-")[0].toLowerCase()));
    option.textContent = p.name + (speaks ? " · speaks the person's language" : "") + (p.accepting ? "" : " · not accepting");
    option.disabled = !p.accepting;
    select.append(option);
  });
  const first = items.find((p) => p.accepting);
  if (first) select.value = first.provider_id;
  if (!items.length) {
    const none = document.createElement("option");
    none.value = ""; none.textContent = found.ok ? "no provider for this need here" : "the directory cannot be read";
    select.append(none);
  }
}

function consentOf(form) {
  const scope = Array.from(form.querySelectorAll('input[name="scope"]:checked')).map((el) => el.value);
  const day = form.elements.expires_on.value;
  return { scope, form: form.elements.form.value, expires_at: day ? day + "T23:59:59Z" : "",
    recipient: { kind: form.elements.recipient_kind.value, id: form.elements.recipient_id.value } };
}

function bodyOf(form) {
  if (form.dataset.body === "milestone") return { milestone: milestoneOf(form) };
  if (form.dataset.body === "consent") return consentOf(form);
  if (form.dataset.body === "service") return serviceOf(form);
  const body = {};
  Array.from(form.elements).forEach((el) => {
    if (!el.name || el.type === "submit") return;
    if (el.value !== "") body[el.name] = el.value;
  });
  return body;
}

function describeError(result) {
  const detail = result.data && result.data.detail;
  if (Array.isArray(detail)) return detail.map((d) => d.loc.slice(1).join(".") + ": " + d.msg).join("; ");
  return detail || ("the server answered " + result.status);
}

function showMilestoneFields(form) {
  const kind = form.elements.kind.value;
  form.querySelectorAll("[class^='when-']").forEach((el) => { el.hidden = !el.classList.contains("when-" + kind); });
}

function person(list, data) {
  list.replaceChildren();
  const label = (key) => key.replace(/_/g, " ");
  const add = (term, value) => {
    if (value === undefined || value === null || value === "" || (Array.isArray(value) && !value.length)) return;
    if (typeof value === "object" && !Array.isArray(value)) {
      Object.entries(value).forEach(([k, v]) => add(term ? term + " · " + label(k) : label(k), v));
      return;
    }
    const dt = document.createElement("dt"); dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = Array.isArray(value) ? value.join(", ")
      : typeof value === "boolean" ? (value ? "yes" : "no") : String(value);
    list.append(dt, dd);
  };
  add("", data.person || {});
  list.hidden = false;
}

function actions() {
  const section = document.querySelector("section.actions");
  if (!section) return;
  const id = section.dataset.caseId;
  const result = document.getElementById("action-result");
  const say = (text, bad) => { result.textContent = text; result.classList.toggle("bad", Boolean(bad)); };
  document.querySelectorAll("form.action").forEach((form) => {
    if (form.dataset.body === "milestone") {
      showMilestoneFields(form);
      form.elements.kind.addEventListener("change", () => showMilestoneFields(form));
    }
    if (form.dataset.body === "service") {
      pickProviders(form);
      form.elements.need.addEventListener("change", () => pickProviders(form));
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      const sent = await send("POST", "/api/cases/" + encodeURIComponent(id) + "/" + form.dataset.action, bodyOf(form));
      button.disabled = false;
      if (sent.ok) say("Sent (event " + sent.data.event_id + "); the case updates in a moment.");
      else say("Not sent: " + describeError(sent), true);
    });
  });
  const show = document.getElementById("show-person");
  if (show) {
    show.addEventListener("click", async () => {
      const read = await send("GET", "/api/cases/" + encodeURIComponent(id) + "/person");
      if (read.ok) { person(document.getElementById("person"), read.data); show.hidden = true; }
      else say("The identity cannot be shown: " + describeError(read), true);
    });
  }
}

document.addEventListener("DOMContentLoaded", actions);

// -- a provider's disclosure link: the capability is in the fragment, never sent in a URL ---

const DISCLOSURE_ANSWERS = {
  403: "Nothing is shared through this link: the person has not consented (in writing) to share it with you.",
  404: "This link is not valid. Check that it was copied whole from the notice.",
  410: "This link is closed: the person's consent ended, or the service request did.",
  429: "Too many attempts from here. Wait a minute, then try again.",
  503: "The case system cannot answer now. Try again in a moment.",
};

function disclosure() {
  const section = document.querySelector("section.disclosure");
  if (!section) return;
  const button = document.getElementById("show-disclosure");
  const result = document.getElementById("disclosure-result");
  const capability = window.location.hash.slice(1);
  // Out of the address bar (and so of the history) once read: the notice holds the link.
  if (capability) window.history.replaceState(null, "", window.location.pathname);
  if (!capability) {
    result.textContent = "This link is incomplete: open it exactly as it came in the notice.";
    button.hidden = true;
    return;
  }
  button.addEventListener("click", async () => {
    button.disabled = true;
    const url = "/api/disclosures/" + encodeURIComponent(section.dataset.serviceRequestId);
    let response;
    try {
      response = await fetch(url, { headers: { Authorization: "Bearer " + capability }, credentials: "omit" });
    } catch (e) {
      response = { status: 503, ok: false };
    }
    button.disabled = false;
    if (!response.ok) {
      result.textContent = DISCLOSURE_ANSWERS[response.status] || "The link cannot be read now.";
      result.classList.add("bad");
      section.dataset.status = String(response.status);
      return;
    }
    const data = await response.json();
    section.dataset.status = "200";
    person(document.getElementById("disclosed"), { person: data.shared });
    const until = document.getElementById("disclosure-until");
    if (data.until) {
      until.textContent = "Shared until " + data.until.replace("T", " ").slice(0, 16) + " UTC (record " + data.audit_id + ").";
      until.hidden = false;
    }
    result.textContent = "";
    button.hidden = true;
  });
}

document.addEventListener("DOMContentLoaded", disclosure);
