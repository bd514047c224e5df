// The wallboard: one server-sent event stream; every "board" event carries the whole board for
// this viewer, and ring counts tick here between events (from when the phone started ringing).
(function () {
  "use strict";
  const root = document.getElementById("wallboard");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  let board = null;
  let skewMs = 0; // server clock minus this browser's clock

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function rings(call) {
    const waited = (Date.now() + skewMs - Date.parse(call.since)) / 1000;
    return Math.floor(Math.max(0, waited) / board.cadence_s) + 1;
  }

  function ringText(call) {
    return call.rings_limit ? `ring ${rings(call)} of ${call.rings_limit}` : `ring ${rings(call)}`;
  }

  function since(call) {
    const s = Math.max(0, Math.round((Date.now() + skewMs - Date.parse(call.since)) / 1000));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function callItem(call) {
    const li = el("li", { "data-call-id": call.call_id, "data-state": call.state });
    li.append(el("div", { class: "who" }, `${call.name || call.ext} (${call.ext})`));
    li.append(el("div", { class: "department" }, call.department_name || call.department || ""));
    const from = call.direction === "outbound" ? `to ${call.dialed}` : `from ${call.caller}`;
    li.append(el("div", { class: "party masked" }, from));
    const detail = call.state === "ringing" ? ringText(call) : `talking ${since(call)}`;
    li.append(el("div", { class: call.state === "ringing" ? "rings" : "talk" }, detail));
    if (call.state === "ringing" && call.rings_limit && rings(call) > call.rings_limit) li.classList.add("over");
    return li;
  }

  function departmentRow(d) {
    const tr = el("tr", { "data-department": d.id });
    const rate = d.in_limit_rate === null ? "–" : `${(100 * Number(d.in_limit_rate)).toFixed(1)} %`;
    tr.append(el("td", {}, d.name), el("td", {}, d.ringing), el("td", {}, d.talking), el("td", {}, d.offered));
    const cell = el("td", { class: "rate" }, `${rate} (${d.answered_in_limit} of ${d.chances})`);
    if (d.in_limit_rate !== null && Number(d.in_limit_rate) < 0.8) cell.classList.add("low");
    tr.append(cell);
    return tr;
  }

  function eventItem(e, kind) {
    const time = new Date(e.at).toLocaleTimeString();
    const what = kind === "alert" ? e.alert : e.rule;
    const about = [e.extension || e.ext, e.person, e.budget, e.reason, e.caller].filter(Boolean).join(" · ");
    return el("li", { "data-kind": kind }, `${time}  ${what}  ${about}`);
  }

  function render() {
    $("wallboard-calls").replaceChildren(...board.calls.map(callItem));
    $("wallboard-idle").hidden = board.calls.length > 0;
    $("wallboard-departments").tBodies[0].replaceChildren(...board.departments.map(departmentRow));
    $("wallboard-violations").replaceChildren(...board.violations.map((v) => eventItem(v, "violation")));
    $("wallboard-alerts").replaceChildren(...board.alerts.map((a) => eventItem(a, "alert")));
    const offline = Object.entries(board.controllers).filter(([, s]) => s !== "online").map(([n]) => n);
    const status = $("wallboard-status");
    status.textContent = offline.length ? `callguard offline: ${offline.join(", ")}` : `live · ${new Date().toLocaleTimeString()}`;
    status.classList.toggle("down", offline.length > 0);
  }

  function tick() {
    // Between events only the clocks move: ring counts and talk times.
    if (!board) return;
    for (const call of board.calls) {
      const li = root.querySelector(`li[data-call-id="${CSS.escape(call.call_id)}"]`);
      if (li) li.replaceWith(callItem(call));
    }
  }

  const source = new EventSource(root.dataset.events);
  source.addEventListener("board", (message) => {
    board = JSON.parse(message.data);
    skewMs = Date.parse(board.now) - Date.now();
    render();
  });
  source.addEventListener("ended", (message) => {
    // Signed out, disabled or the session is over: the server ended the stream; sign in again.
    source.close();
    $("wallboard-status").textContent = `ended: ${JSON.parse(message.data).reason}`;
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
  });
  source.onerror = () => {
    const status = $("wallboard-status");
    status.textContent = "reconnecting…";
    status.classList.add("down");
  };
  setInterval(tick, 250);
})();
