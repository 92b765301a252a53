"""The evaluator's live page: one self-contained HTML document (no CDN, no external requests).

It polls `live.json` (what it shows, nothing more) and renders with textContent only, so values read
from devices can never inject markup. Language: 中文 by default; `?lang=en` or the switch, remembered
in localStorage and the URL.
"""

from __future__ import annotations

import html
import json

_CSS = """
:root { --run:#1f9d55; --idle:#d69e2e; --alarm:#e53e3e; --stop:#718096; --off:#2d3748; --bg:#f7fafc; }
* { box-sizing: border-box; }
body { margin:0; font-family: "Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif;
       background:var(--bg); color:#1a202c; }
header { display:flex; align-items:center; gap:1rem; padding:.8rem 1.2rem; background:#1a365d; color:#fff; }
header h1 { font-size:1.25rem; margin:0; flex:1; }
header .meta { font-size:.85rem; opacity:.85; }
.lang button { background:transparent; color:#fff; border:1px solid #fff; padding:.25rem .6rem;
               cursor:pointer; font-size:.9rem; }
.lang button[aria-pressed="true"] { background:#fff; color:#1a365d; font-weight:bold; }
main { padding:1rem 1.2rem; }
.cards { display:flex; flex-wrap:wrap; gap:.8rem; margin-bottom:1rem; }
.card { background:#fff; border:1px solid #e2e8f0; border-radius:6px; padding:.6rem 1rem; min-width:10rem; }
.card .label { font-size:.8rem; color:#4a5568; }
.card .value { font-size:1.6rem; font-weight:bold; }
table { border-collapse:collapse; width:100%; background:#fff; }
th, td { border-bottom:1px solid #e2e8f0; padding:.45rem .6rem; text-align:left; vertical-align:top; }
th { background:#edf2f7; font-size:.85rem; }
.state { display:inline-block; min-width:4.5rem; text-align:center; color:#fff; border-radius:4px;
         padding:.15rem .4rem; font-weight:bold; }
.state[data-state="RUNNING"] { background:var(--run); }
.state[data-state="IDLE"] { background:var(--idle); }
.state[data-state="ALARM"] { background:var(--alarm); }
.state[data-state="STOPPED"] { background:var(--stop); }
.state[data-state="OFFLINE"] { background:var(--off);
  background-image:repeating-linear-gradient(45deg,transparent 0 4px,rgba(255,255,255,.15) 4px 8px); }
.state[data-state=""] { background:#a0aec0; }
.q-good { color:var(--run); } .q-uncertain { color:var(--idle); } .q-bad { color:var(--alarm); }
.vals { display:flex; flex-wrap:wrap; gap:.3rem .9rem; font-size:.9rem; }
.vals .k { color:#4a5568; margin-right:.25rem; }
.muted { color:#718096; font-size:.85rem; white-space:nowrap; }
td.age { white-space:nowrap; }
footer { padding:.6rem 1.2rem; font-size:.8rem; color:#4a5568; }
#status.error { color:var(--alarm); font-weight:bold; }
"""

_BODY = """
<header>
  <h1 id="title"></h1>
  <span class="meta" id="site"></span>
  <span class="lang" role="group" aria-label="language">
    <button id="lang-zh" type="button" data-lang="zh">中文</button>
    <button id="lang-en" type="button" data-lang="en">English</button>
  </span>
</header>
<main>
  <section class="cards" id="cards"></section>
  <table id="devices">
    <thead><tr>
      <th data-i18n="device"></th><th data-i18n="state"></th><th data-i18n="connected"></th>
      <th data-i18n="quality"></th><th data-i18n="age"></th><th data-i18n="values"></th>
    </tr></thead>
    <tbody></tbody>
  </table>
</main>
<footer><span id="status"></span> · <span data-i18n="readonly"></span></footer>
"""

_JS = """
"use strict";
const REFRESH_MS = __REFRESH_MS__;
const T = {
  zh: {title:"设备联网实时状态", device:"设备", state:"状态", connected:"连接", quality:"数据质量",
       age:"数据时效", values:"关键数值", readonly:"只读页面，数据自动刷新", updated:"更新于",
       lost:"与采集器的连接中断，正在重试", yes:"已连接", no:"未连接", none:"—", more:"另有 {n} 项",
       devices_total:"设备总数", declared_networked:"申报联网设备", online_now:"当前在线",
       networked_rate_declared:"设备联网率（申报）", digital_rate:"生产设备数字化率",
       now:"刚刚", s:"{n} 秒前", m:"{n} 分钟前", h:"{n} 小时前", never:"无数据", norule:"未配置状态规则",
       on:"开", off:"关",
       RUNNING:"运行", IDLE:"待机", ALARM:"报警", STOPPED:"停机", OFFLINE:"离线",
       good:"良好", uncertain:"不确定", bad:"不良"},
  en: {title:"Equipment connectivity — live status", device:"Device", state:"State",
       connected:"Connection", quality:"Quality", age:"Data age", values:"Key values",
       readonly:"Read-only page, refreshes automatically", updated:"Updated",
       lost:"Connection to the collector lost, retrying", yes:"Connected", no:"Disconnected",
       none:"—", more:"{n} more", devices_total:"Devices", declared_networked:"Declared networked",
       online_now:"Online now", networked_rate_declared:"Networked rate (declared)",
       digital_rate:"Digitalised equipment rate", now:"just now", s:"{n} s ago", m:"{n} min ago",
       h:"{n} h ago", never:"no data", norule:"no state rule", on:"on", off:"off",
       RUNNING:"Running", IDLE:"Idle", ALARM:"Alarm", STOPPED:"Stopped", OFFLINE:"Offline",
       good:"Good", uncertain:"Uncertain", bad:"Bad"},
};
const CARDS = [["devices_total","n"],["declared_networked","n"],["online_now","n"],
               ["networked_rate_declared","%"],["digital_rate","%"]];
let lang = pickLang();
let doc = null;
let failed = false;

function pickLang() {
  const url = new URLSearchParams(location.search).get("lang");
  if (url === "zh" || url === "en") return url;
  let stored = null;
  try { stored = localStorage.getItem("shopfloor.lang"); } catch (e) { /* storage disabled */ }
  return stored === "en" ? "en" : "zh";
}
function t(key, n) { return (T[lang][key] ?? key).replace("{n}", n); }
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function age(ms) {
  if (ms === null || ms === undefined) return t("never");
  const s = Math.round(ms / 1000);
  if (s < 2) return t("now");
  if (s < 120) return t("s", s);
  if (s < 7200) return t("m", Math.round(s / 60));
  return t("h", Math.round(s / 3600));
}
function fmtValue(v) {
  if (v === null || v === undefined) return t("none");
  if (typeof v === "boolean") return t(v ? "on" : "off");
  if (typeof v === "number" && !Number.isInteger(v)) return v.toFixed(Math.abs(v) >= 100 ? 1 : 3);
  if (Array.isArray(v)) return "[" + v.length + "]";
  return String(v);
}
function clock(ms) {
  // the site's own zone, so what an evaluator reads matches the evidence pack
  const opts = {timeZone: doc.site.timezone, hour12: false};
  try { return new Date(ms).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB", opts); }
  catch (e) { return new Date(ms).toISOString(); }
}
function setLang(next) {
  lang = next;
  try { localStorage.setItem("shopfloor.lang", lang); } catch (e) { /* storage disabled */ }
  const url = new URL(location.href);
  url.searchParams.set("lang", lang);
  history.replaceState(null, "", url);
  render();
}
function render() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  document.getElementById("title").textContent = t("title");
  for (const b of document.querySelectorAll(".lang button"))
    b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  const status = document.getElementById("status");
  status.className = failed ? "error" : "";
  status.textContent = failed ? t("lost") : (doc ? t("updated") + " " + clock(doc.generated_ms) : "");
  if (!doc) return;
  const site = doc.site;
  const plantName = lang === "zh" ? (site.enterprise_name_zh || site.enterprise) : site.enterprise;
  const siteName = lang === "zh" ? (site.name_zh || site.name || site.site) : (site.name || site.site);
  document.getElementById("site").textContent = plantName + " · " + siteName + " · " + site.edge_id;
  const cards = document.getElementById("cards");
  cards.replaceChildren(...CARDS.map(([key, kind]) => {
    const c = el("div", "card");
    c.dataset.indicator = key;
    const v = doc.indicators[key];
    c.append(el("div", "label", t(key)),
             el("div", "value", kind === "%" ? (v === null ? t("none") : (v * 100).toFixed(1) + "%") : v));
    return c;
  }));
  const body = document.querySelector("#devices tbody");
  body.replaceChildren(...doc.devices.map(row));
}
function row(d) {
  const tr = el("tr");
  tr.dataset.device = d.id;
  const name = el("td");
  const label = lang === "zh" ? (d.name_zh || d.name || d.id) : (d.name || d.id);
  name.append(el("div", "", label), el("div", "muted", d.id + " · " + d.protocol));
  const state = el("span", "state", d.state ? t(d.state) : t("none"));
  state.dataset.state = d.state || "";
  if (!d.state && d.state_source === "none") state.title = t("norule");
  const stateCell = el("td");
  stateCell.append(state);
  if (d.sub) stateCell.append(el("div", "muted", d.sub));
  const q = d.quality ? el("td", "q-" + d.quality, t(d.quality)) : el("td", "", t("none"));
  q.dataset.quality = d.quality || "";
  const vals = el("div", "vals");
  for (const v of d.values) {
    const item = el("span", "q-" + v.quality);
    item.dataset.tag = v.tag;
    const key = lang === "zh" ? (v.name_zh || v.tag) : v.tag;
    item.append(el("span", "k", key), el("span", "v", fmtValue(v.value) + (v.unit ? " " + v.unit : "")));
    vals.append(item);
  }
  if (d.more_values > 0) vals.append(el("span", "muted", t("more", d.more_values)));
  const valsCell = el("td");
  valsCell.append(vals);
  const conn = el("td", d.connected ? "q-good" : "q-bad", t(d.connected ? "yes" : "no"));
  conn.dataset.connected = String(d.connected);
  tr.append(name, stateCell, conn, q, el("td", "age", age(d.age_ms)), valsCell);
  return tr;
}
async function refresh() {
  try {
    const res = await fetch("live.json", {cache: "no-store"});
    if (!res.ok) throw new Error(String(res.status));
    doc = await res.json();
    failed = false;
    render();
    document.body.dataset.loaded = "true";
  } catch (e) {
    failed = true;
    render();
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}
for (const b of document.querySelectorAll(".lang button"))
  b.addEventListener("click", () => setLang(b.dataset.lang));
render();
refresh();
"""


def render_page(refresh_ms: int, title: str) -> str:
    """The page; `title` (the plant's name) is escaped, the refresh period is an integer."""
    script = _JS.replace("__REFRESH_MS__", json.dumps(int(refresh_ms)))
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style></head>\n"
        f"<body>{_BODY}<script>{script}</script></body></html>\n"
    )
