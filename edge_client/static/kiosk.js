// The kiosk page: server-sent events from /api/stream update the label, history and counters.
// Nothing shows a placeholder: a value not known yet hides its item.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let maxHistory = 5;

  // Shrink the label until its longest word fits its box whole (the CSS size is the most the screen allows);
  // a word that fits at no readable size is broken as a last resort.
  function fitLabel() {
    const el = $("label");
    const overflows = () => el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1;
    el.style.fontSize = "";
    el.style.overflowWrap = "";
    let size = parseFloat(getComputedStyle(el).fontSize);
    for (let i = 0; i < 12 && overflows(); i++) {
      size *= 0.9;
      el.style.fontSize = size + "px";
    }
    if (overflows()) el.style.overflowWrap = "anywhere";
  }

  // Show as many recent labels as fit; the rest wait hidden (newest first).
  function fitHistory() {
    const list = $("history");
    const items = Array.from(list.children);
    for (const li of items) li.hidden = false;
    for (let i = items.length - 1; i >= 0 && list.scrollHeight > list.clientHeight + 1; i--) items[i].hidden = true;
    $("history-title").hidden = !items.some((li) => !li.hidden);
  }

  function fit() {
    fitLabel();
    fitHistory();
  }

  function historyItem(ev) {
    const li = document.createElement("li");
    li.dataset.label = ev.label;
    const text = document.createElement("span");
    text.className = "name";
    text.textContent = ev.display_name || ev.label;
    const by = document.createElement("span");
    by.className = "by";
    by.textContent = ev.answered_by;
    li.append(text, by);
    return li;
  }

  function showLabel(ev) {
    $("label").textContent = ev.label === null ? "" : (ev.display_name || ev.label);
    $("label").dataset.label = ev.label === null ? "" : ev.label;
    $("meta").textContent = ev.label === null ? "no sign"
      : "answered by " + ev.answered_by + " · " + Math.round(ev.confidence * 100) + "%";
    if (ev.label !== null) {
      const list = $("history");
      list.insertBefore(historyItem(ev), list.firstChild);
      while (list.children.length > maxHistory) list.removeChild(list.lastChild);
    }
    fit();
  }

  // The kiosk's recent labels (newest first), sent when the stream (re)connects: they replace the list,
  // so a reloaded page shows them again and a reconnected one shows none twice.
  function showHistory(events) {
    $("history").replaceChildren(...events.map(historyItem));
    fit();
  }

  function known(value) {
    return value !== null && value !== undefined && !(typeof value === "number" && isNaN(value));
  }

  function showItem(item, valueId, value) {
    $(item).hidden = !known(value) || value === "";
    if (!$(item).hidden) $(valueId).textContent = value;
  }

  function showStatus(st) {
    if (st.history_size) maxHistory = st.history_size;
    const c = st.counters || {};
    showItem("fps-item", "fps", c.fps);
    $("frames").textContent = c.frames_processed || 0;
    $("dropped").textContent = c.frames_dropped || 0;
    $("windows").textContent = c.windows_sent || 0;
    $("cloud").textContent = c.answers_cloud || 0;
    $("local").textContent = c.answers_local || 0;
    $("errors").textContent = c.cloud_errors || 0;
    showItem("latency-item", "latency", c.label_latency_p50_ms);
    const m = st.model || {};
    const model = known(m.name) ? [m.name, m.version].filter(known).join(" ") : "";
    showItem("model-item", "model", model && known(m.answered_by) ? model + " (" + m.answered_by + ")" : model);
    $("state").textContent = st.problem ? st.problem : (st.running ? "running" : "paused");
    $("state").className = "state " + (st.running && !st.problem ? "live" : "down");
  }

  window.addEventListener("resize", fit);
  new ResizeObserver(fit).observe($("label").parentElement);
  const source = new EventSource("/api/stream");
  source.addEventListener("label", (e) => showLabel(JSON.parse(e.data)));
  source.addEventListener("history", (e) => showHistory(JSON.parse(e.data)));
  source.addEventListener("status", (e) => showStatus(JSON.parse(e.data)));
  source.onerror = () => { $("state").textContent = "reconnecting…"; $("state").className = "state down"; };
})();
