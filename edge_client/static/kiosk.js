// The kiosk page: server-sent events from /api/stream update the label, history and counters.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let maxHistory = 5;

  function showLabel(ev) {
    const name = ev.label === null ? "" : (ev.display_name || ev.label);
    $("label").textContent = name || "\u00a0";
    $("label").dataset.label = ev.label === null ? "" : ev.label;
    $("answered-by").textContent = ev.label === null ? "no sign" : "answered by " + ev.answered_by;
    $("confidence").textContent = ev.label === null ? "" : Math.round(ev.confidence * 100) + "%";
    if (ev.label !== null) {
      const li = document.createElement("li");
      li.dataset.label = ev.label;
      li.textContent = name;
      const by = document.createElement("span");
      by.className = "by";
      by.textContent = ev.answered_by;
      li.appendChild(by);
      const list = $("history");
      list.insertBefore(li, list.firstChild);
      while (list.children.length > maxHistory) list.removeChild(list.lastChild);
    }
  }

  function showStatus(st) {
    if (st.history_size) maxHistory = st.history_size;
    const c = st.counters || {};
    $("fps").textContent = c.fps !== undefined ? c.fps : "–";
    $("frames").textContent = c.frames_processed || 0;
    $("dropped").textContent = c.frames_dropped || 0;
    $("windows").textContent = c.windows_sent || 0;
    $("cloud").textContent = c.answers_cloud || 0;
    $("local").textContent = c.answers_local || 0;
    $("latency").textContent = c.label_latency_p50_ms !== null && c.label_latency_p50_ms !== undefined ? c.label_latency_p50_ms : "–";
    const m = st.model || {};
    $("model").textContent = m.name ? m.name + " " + m.version + " (" + m.answered_by + ")" : "–";
    $("state").textContent = st.problem ? st.problem : (st.running ? "running" : "paused");
    $("state").className = "state " + (st.running && !st.problem ? "live" : "down");
    $("errors").textContent = c.cloud_errors || 0;
  }

  const source = new EventSource("/api/stream");
  source.addEventListener("label", (e) => showLabel(JSON.parse(e.data)));
  source.addEventListener("status", (e) => showStatus(JSON.parse(e.data)));
  source.onerror = () => { $("state").textContent = "reconnecting…"; $("state").className = "state down"; };
})();
