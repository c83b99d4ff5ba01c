// Progressive enhancement for the station dashboard. Every page works
// without it; it adds: filters that apply on change, confirmations for
// irreversible actions, a photo viewer, and live rows for hazards that
// devices sync while the page is open (polling a small JSON endpoint).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-autosubmit]").forEach((el) => {
    el.addEventListener("change", () => el.form && el.form.requestSubmit());
  });
  document.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (e) => { if (!window.confirm(f.dataset.confirm)) e.preventDefault(); });
  });
  document.querySelectorAll("form").forEach((f) => {
    f.addEventListener("submit", () => {
      f.querySelectorAll("button[type=submit]").forEach((b) => { setTimeout(() => { b.disabled = true; }, 0); });
    });
  });
  setupLightbox();
  const live = document.querySelector("[data-live-after]");
  if (live) startLive(live);
});

function setupLightbox() {
  const box = document.getElementById("lightbox");
  if (!box) return;
  const img = box.querySelector("img");
  document.querySelectorAll("a[data-lightbox]").forEach((a) => {
    a.addEventListener("click", (e) => {
      e.preventDefault();
      img.src = a.href;
      box.hidden = false;
    });
  });
  box.addEventListener("click", () => { box.hidden = true; img.removeAttribute("src"); });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") box.hidden = true; });
}

function cell(tr, text, html) {
  const td = document.createElement("td");
  if (html) td.appendChild(html); else td.textContent = text;
  tr.appendChild(td);
  return td;
}

function link(item) {
  const frag = document.createDocumentFragment();
  const a = document.createElement("a");
  a.href = "/hazards/" + encodeURIComponent(item.id);
  a.className = "hazard-link";
  a.textContent = item.title;
  frag.appendChild(a);
  if (item.major) {
    const t = document.createElement("span");
    t.className = "tag major";
    t.textContent = "重大";
    frag.append(" ", t);
  }
  const n = document.createElement("span");
  n.className = "tag";
  n.textContent = "新";
  frag.append(" ", n);
  return frag;
}

function status(item) {
  const s = document.createElement("span");
  s.className = "st";
  s.textContent = item.status;
  return s;
}

function row(item, layout) {
  const tr = document.createElement("tr");
  tr.className = "fresh";
  tr.dataset.id = item.id;
  if (layout === "overview") {
    cell(tr, item.reported_at);
    cell(tr, "", link(item));
    cell(tr, item.site);
    cell(tr, item.grid);
    cell(tr, "", status(item));
  } else {
    cell(tr, item.reported_at);
    cell(tr, "", link(item));
    cell(tr, item.site);
    cell(tr, item.village + " / " + item.grid);
    cell(tr, item.severity);
    cell(tr, "", status(item));
    cell(tr, item.deadline);
    const photos = cell(tr, String(item.photos));
    if (item.incomplete) {
      const t = document.createElement("span");
      t.className = "tag warn";
      t.textContent = "证据不全";
      photos.append(" ", t);
    }
    cell(tr, item.reported_by);
  }
  return tr;
}

// startLive polls /live/hazards with the page's own filter (data-live-query),
// so only hazards the page would list are inserted; a full page of
// results ("more") is followed at once by the next.
function startLive(table) {
  const body = table.querySelector("[data-live-rows]");
  const banner = document.getElementById("live-banner");
  const every = Math.max(1000, parseInt(table.dataset.liveInterval, 10) || 5000);
  const filter = table.dataset.liveQuery || "";
  let after = table.dataset.liveAfter;
  let seen = 0;
  const tick = async () => {
    let next = every;
    try {
      const r = await fetch("/live/hazards?after=" + encodeURIComponent(after) + (filter ? "&" + filter : ""),
        { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.ok) {
        const data = await r.json();
        after = String(data.after);
        table.dataset.liveAfter = after;
        const empty = body.querySelector("tr.empty");
        // Oldest first, each inserted at the top: the newest ends on top.
        data.hazards.forEach((item) => {
          if (body.querySelector('tr[data-id="' + CSS.escape(item.id) + '"]')) return;
          if (empty) empty.remove();
          body.insertBefore(row(item, body.dataset.liveLayout), body.firstChild);
          seen++;
        });
        if (seen > 0 && banner) {
          banner.textContent = "新同步 " + seen + " 条";
          banner.hidden = false;
        }
        if (data.more) next = 0;
      } else if (r.status === 401) {
        return; // session ended: stop polling, the next navigation asks to log in
      }
    } catch (e) { /* offline for a moment: try again next tick */ }
    setTimeout(tick, next);
  };
  setTimeout(tick, every);
}
