// Operator mode of the kiosk page (open it as /#teach): teach the kiosk a sign through /api/teach.
// Keys typed here (the admin key, the PIN) stay in this tab's sessionStorage and go only to this kiosk.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const LOW_AGREEMENT = 0.5; // an example below this agrees poorly with the others: redo it
  let state = null;

  function headers() {
    const h = { "Content-Type": "application/json" };
    const token = sessionStorage.getItem("teach-token");
    const pin = sessionStorage.getItem("teach-pin");
    if (token) h.Authorization = "Bearer " + token;
    if (pin) h["X-Teach-Pin"] = pin;
    return h;
  }

  function say(text, ok) {
    $("teach-message").textContent = text || "";
    $("teach-message").className = "message" + (ok ? " ok" : "");
  }

  async function call(action, body) {
    sessionStorage.setItem("teach-token", $("teach-token").value);
    sessionStorage.setItem("teach-pin", $("teach-pin").value);
    const resp = await fetch("/api/teach/" + action, { method: "POST", headers: headers(),
                                                       body: JSON.stringify(body || {}) });
    const data = await resp.json().catch(() => ({ error: "no answer" }));
    if (!resp.ok) throw new Error(data.error || resp.statusText);
    return data;
  }

  function button(text, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  function showDraft(t) {
    const list = $("teach-examples");
    list.replaceChildren();
    $("teach-record").disabled = !t || t.ready;
    $("teach-use").disabled = !t || !t.ready;
    $("teach-cancel").disabled = !t;
    if (!t) { $("teach-count").textContent = ""; return; }
    t.examples.forEach((e, i) => {
      const li = document.createElement("li");
      const agree = e.agreement === null ? "" : "agrees " + Math.round(e.agreement * 100) + "%";
      const like = e.no_sign ? " · the model sees no sign here: redo it with the hands in view"
        : e.resembles ? " · looks like " + e.resembles + " " + Math.round(e.resembles_confidence * 100) + "%" : "";
      li.textContent = (agree || "recorded") + like;
      if (e.no_sign || (e.agreement !== null && e.agreement < LOW_AGREEMENT)) li.className = "low";
      li.append(button("redo", () => act("drop", { index: i })));
      list.append(li);
    });
    $("teach-count").textContent = t.examples.length + " / " + t.wanted + (t.adding ? " more, from " + t.session : "");
  }

  function showSigns(signs) {
    $("teach-signs").replaceChildren(...signs.map((s) => {
      const li = document.createElement("li");
      li.dataset.sign = s.name;
      const people = s.people.length > 1 ? " · taught by " + s.people.join(", ") : "";
      li.textContent = s.name + people + (s.answered ? "" : " (not answered)");
      // Another person's examples: a sign taught by one person is that person's way of signing it.
      li.append(button("add a person", () => {
        const who = window.prompt("Who signs " + s.name + " now? (their name or a code)", "");
        if (who && who.trim()) {
          $("teach-name").value = s.name;
          $("teach-session").value = who.trim();
          act("more", { name: s.name, session: who.trim() });
        }
      }));
      li.append(button("rename", () => {
        const to = window.prompt("New name for " + s.name, s.name);
        if (to && to !== s.name) act("rename", { name: s.name, new_name: to });
      }));
      li.append(button("remove", () => {
        if (window.confirm("Remove " + s.name + "? Its examples are kept.")) act("remove", { name: s.name });
      }));
      return li;
    }));
  }

  async function refresh() {
    const resp = await fetch("/api/teach");
    if (!resp.ok) { say((await resp.json()).error); return; }
    const data = await resp.json();
    $("teach-pin").hidden = !data.pin;
    state = data.teaching;
    showNotice(data.notice);
    if (state) { // reopened mid-draft: say which sign is being taught
      $("teach-name").value = state.name;
      $("teach-session").value = state.session;
    }
    showDraft(state);
    showSigns(data.signs);
  }

  async function act(action, body) {
    try {
      const data = await call(action, body);
      if ("teaching" in data) { state = data.teaching; showDraft(state); showNotice(""); }
      if (data.signs) showSigns(data.signs);
      if (action === "use") {
        const like = data.closest_known ? "; closest known sign " + data.closest_known : "";
        const people = data.people > 1 ? ", from " + data.people + " people's examples" : "";
        say("the kiosk answers " + data.taught + " now (" + data.seconds + " s" + people + like + ")", true);
        $("teach-name").value = "";
        state = null;
        showDraft(null);
        followNotice();
      } else say("");
      if (action === "rename" || action === "remove") refresh();
    } catch (err) {
      say(err.message);
    }
  }

  // Where the last taught sign went (the registry, or this kiosk only); not shown while another is taught.
  function showNotice(notice) {
    $("teach-notice").textContent = state ? "" : notice || "";
  }

  // The push runs after "use it" answered: follow it until it ended.
  async function followNotice() {
    for (let i = 0; i < 30; i++) {
      const resp = await fetch("/api/teach");
      if (!resp.ok) return;
      const notice = (await resp.json()).notice || "";
      showNotice(notice);
      if (!notice.startsWith("pushing")) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  // 3-2-1, then "sign now": the first window of frames the camera takes from then on, with a hand, becomes
  // the example (the kiosk waits up to 10 s for it).
  async function record() {
    $("teach-record").disabled = true;
    for (const n of [3, 2, 1]) {
      $("teach-count").textContent = n;
      await new Promise((r) => setTimeout(r, 700));
    }
    $("teach-count").textContent = "sign now";
    await act("record");
    if (state) showDraft(state);
  }

  function open() {
    if (location.hash !== "#teach") {
      document.body.classList.remove("teaching");
      $("teach").hidden = true;
      return;
    }
    document.body.classList.add("teaching");
    $("teach").hidden = false;
    $("teach-token").value = sessionStorage.getItem("teach-token") || "";
    $("teach-pin").value = sessionStorage.getItem("teach-pin") || "";
    refresh();
  }

  $("teach-start").addEventListener("click", () => {
    const name = $("teach-name").value.trim();
    if (!name) { say("type the sign's name first"); return; }
    act("start", { name: name, session: $("teach-session").value.trim() || null });
  });
  $("teach-record").addEventListener("click", record);
  $("teach-use").addEventListener("click", () => { say("teaching…", true); act("use"); });
  $("teach-cancel").addEventListener("click", () => act("cancel"));
  window.addEventListener("hashchange", open);
  open();
})();
