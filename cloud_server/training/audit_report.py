"""The audit as one self-contained HTML page: animated hand skeletons, tables, and review controls.

Nothing is fetched: the data and the script are inline, so the file opens offline from a disk. A
person marks each flagged block keep, drop or relabel and downloads the decisions as a review file
(JSON lines, ``shared.datasets.review``) for ``signstream train --review``.
"""

from __future__ import annotations

import html
import json
import re

import numpy as np

from shared.contract.spec import COORDS, HANDS, LANDMARKS
from shared.datasets.dataset import Dataset


def _skeleton(ds: Dataset, i: int) -> dict:
    """Sequence ``i`` as x, y per hand and frame (null where no hand), rounded for size."""
    lm = ds.X[i, : ds.length[i]].reshape(-1, HANDS, LANDMARKS, COORDS)[..., :2]
    frames = []
    for frame in lm:
        frames.append([None if not np.any(hand) else np.round(hand, 3).reshape(-1).tolist() for hand in frame])
    return {"id": str(ds.seq_id[i]), "session": str(ds.session[i]), "label": ds.classes[int(ds.y[i])],
            "frames": frames}  # fmt: skip


def _rows(table: dict[str, dict[str, int]]) -> str:
    ordered = sorted(table.items(), key=lambda kv: (-kv[1]["flagged"], kv[0]))
    return "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v['flagged']}</td><td>{v['blocks']}</td></tr>" for k, v in ordered
    )


def render(result: dict, ds: Dataset, title: str) -> str:
    """The report page for an ``audit`` result on ``ds``."""
    wanted = sorted({i for f in result["flagged"] for i in f["examples"].values() if i is not None})
    sequences = {str(i): _skeleton(ds, i) for i in wanted}
    data = {"flagged": result["flagged"], "classes": result["classes"], "sequences": sequences}
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    kinds = ", ".join(f"{k} {v}" for k, v in result["kinds"].items() if v)
    rows = []
    for n, f in enumerate(result["flagged"]):
        ex = f["examples"]
        cells = "".join(
            f'<figure><canvas width="150" height="150" data-seq="{"" if ex[key] is None else ex[key]}"></canvas>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            for key, caption in (
                ("block", f"this block: '{f['class']}'"),
                ("labelled_sign", f"typical '{f['class']}'"),
                ("looks_like", f"typical '{f['looks_like']}'" if f["looks_like"] else "(looks like no other sign)"),
            )
        )
        rows.append(
            f'<tr data-block="{n}"><td>{html.escape(f["session"])}</td><td>{html.escape(f["class"])}</td>'
            f"<td>{f['sequences']}</td><td>{html.escape(', '.join(f['kinds']))}</td>"
            f"<td>{html.escape(f['summary'])}<br><small>handshape: {html.escape(f['handshape'])}</small>"
            f"<details><summary>evidence</summary><pre>{html.escape(json.dumps(f['evidence'], indent=1))}</pre>"
            f"</details></td><td class=anim>{cells}</td>"
            f'<td><select class=action><option value="">undecided</option><option>keep</option><option>drop'
            f"</option><option>relabel</option></select><select class=target></select></td></tr>"
        )
    return _PAGE.format(
        title=html.escape(title),
        blocks=result["blocks"],
        people=result["people"],
        sequences=result["sequences"],
        flagged=result["flagged_blocks"],
        share=f"{result['flagged_share']:.1%}",
        kinds=html.escape(kinds or "none"),
        apart="".join(
            f"<li>{html.escape(p['session'])}: {html.escape(p['why'])} ({p['sequences']} sequences)</li>"
            for p in result["people_apart"]
        )
        or "<li>none</li>",
        rows="".join(rows),
        per_person=_rows(result["per_person"]),
        per_sign=_rows(result["per_sign"]),
        payload=payload,
    )


_DATA = re.compile(r'<script type="application/json" id=audit-data>(.*?)</script>', re.S)


def report_data(page: str) -> dict | None:
    """The audit data a page ``render`` wrote carries (flagged blocks, classes), or None if it is not one."""
    found = _DATA.search(page)
    if not found:
        return None
    try:
        data = json.loads(found.group(1))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("flagged", "classes")):
        return None
    return data


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 4px 6px; vertical-align: top; text-align: left; }}
td.anim {{ white-space: nowrap; }}
figure {{ display: inline-block; margin: 0 4px; text-align: center; }}
canvas {{ background: #f6f6f6; border: 1px solid #ddd; }}
figcaption {{ font-size: 12px; }}
pre {{ font-size: 11px; max-width: 40em; white-space: pre-wrap; }}
.counts {{ display: inline-block; vertical-align: top; margin-right: 2em; }}
</style></head><body>
<h1>{title}</h1>
<p>{blocks} person-and-sign blocks ({sequences} sequences, {people} people); <b>{flagged} flagged ({share})</b>:
{kinds}. Left hand slot drawn blue, right red; every skeleton is shown as recorded (not mirrored).</p>
<p>People apart:</p><ul>{apart}</ul>
<p><label>Reviewer: <input id=who placeholder="your name"></label>
<button id=download>Download review file</button> <button id=save hidden>Save review</button>
<span id=saved></span> <a id=link download="review.jsonl" hidden>review.jsonl</a>
<span id=decided>0 decided</span></p>
<table id=flagged><thead><tr><th>person</th><th>sign</th><th>seq.</th><th>kinds</th><th>evidence</th>
<th>skeletons (<span id=frame>0</span>)</th><th>decision</th></tr></thead><tbody>{rows}</tbody></table>
<div class=counts><h2>Per person</h2><table id=per-person><tr><th>person</th><th>flagged</th><th>blocks</th></tr>
{per_person}</table></div>
<div class=counts><h2>Per sign</h2><table id=per-sign><tr><th>sign</th><th>flagged</th><th>blocks</th></tr>
{per_sign}</table></div>
<script type="application/json" id=audit-data>{payload}</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("audit-data").textContent);
const BONES = [[0,1],[1,2],[2,3],[3,4],[0,5],[5,6],[6,7],[7,8],[5,9],[9,10],[10,11],[11,12],[9,13],[13,14],
  [14,15],[15,16],[13,17],[17,18],[18,19],[19,20],[0,17]];
const canvases = Array.from(document.querySelectorAll("canvas[data-seq]"));
function bounds(seq) {{
  let x0 = 1, y0 = 1, x1 = 0, y1 = 0;
  for (const f of seq.frames) for (const h of f) if (h) for (let i = 0; i < 42; i += 2) {{
    x0 = Math.min(x0, h[i]); x1 = Math.max(x1, h[i]); y0 = Math.min(y0, h[i + 1]); y1 = Math.max(y1, h[i + 1]);
  }}
  const s = Math.max(x1 - x0, y1 - y0, 0.05) * 1.1;
  return {{x: (x0 + x1) / 2 - s / 2, y: (y0 + y1) / 2 - s / 2, s: s}};
}}
const view = new Map();
function draw(canvas, frame) {{
  const ctx = canvas.getContext("2d"), seq = DATA.sequences[canvas.dataset.seq];
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!seq) {{ ctx.fillText("no example", 40, 75); return; }}
  if (!view.has(canvas)) view.set(canvas, bounds(seq));
  const b = view.get(canvas), k = canvas.width / b.s, f = seq.frames[frame % seq.frames.length];
  f.forEach((h, slot) => {{
    if (!h) return;
    ctx.strokeStyle = slot ? "#c22" : "#24c"; ctx.lineWidth = 2; ctx.beginPath();
    for (const [a, c] of BONES) {{
      ctx.moveTo((h[2 * a] - b.x) * k, (h[2 * a + 1] - b.y) * k);
      ctx.lineTo((h[2 * c] - b.x) * k, (h[2 * c + 1] - b.y) * k);
    }}
    ctx.stroke();
  }});
  canvas.dataset.frame = String(frame % seq.frames.length);
}}
let frame = 0;
function tick() {{
  canvases.forEach(c => draw(c, frame));
  document.getElementById("frame").textContent = "frame " + frame;
  window.auditFrame = frame;
  frame += 1;
}}
tick();
setInterval(tick, 100);
document.querySelectorAll("tr[data-block]").forEach(row => {{
  const block = DATA.flagged[Number(row.dataset.block)], target = row.querySelector(".target");
  for (const c of DATA.classes) if (c !== block.class) {{
    const o = document.createElement("option"); o.textContent = c; if (c === block.looks_like) o.selected = true;
    target.appendChild(o);
  }}
  target.hidden = true;
  row.querySelector(".action").addEventListener("change", e => {{
    target.hidden = e.target.value !== "relabel"; count();
  }});
}});
function reviewLines() {{
  const who = document.getElementById("who").value || "unknown", when = new Date().toISOString(), out = [];
  document.querySelectorAll("tr[data-block]").forEach(row => {{
    const action = row.querySelector(".action").value;
    if (!action) return;
    const b = DATA.flagged[Number(row.dataset.block)];
    const d = {{session: b.session, class: b.class, action: action, who: who, when: when,
               kinds: b.kinds}};
    if (action === "relabel") d.new_class = row.querySelector(".target").value;
    out.push(JSON.stringify(d));
  }});
  return out.join("\\n") + (out.length ? "\\n" : "");
}}
function count() {{
  const n = reviewLines().split("\\n").filter(Boolean).length;
  document.getElementById("decided").textContent = n + " decided";
}}
window.reviewLines = reviewLines;
if (location.protocol.startsWith("http")) {{  // served by `signstream review`: it writes the file
  const save = document.getElementById("save");
  save.hidden = false;
  save.addEventListener("click", async () => {{
    const body = reviewLines();
    if (!body) {{ document.getElementById("saved").textContent = "nothing decided yet"; return; }}
    const r = await fetch("/review", {{method: "POST", body: body}});
    const j = await r.json();
    document.getElementById("saved").textContent = r.ok ? `saved: ${{j.decisions}} decisions in ${{j.saved}}` : j.error;
  }});
}}
document.getElementById("download").addEventListener("click", () => {{
  const link = document.getElementById("link");
  link.href = URL.createObjectURL(new Blob([reviewLines()], {{type: "application/x-ndjson"}}));
  link.hidden = false; link.click();
}});
</script></body></html>
"""
