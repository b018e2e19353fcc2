// Gallery front end (after common.js): a grid of saved results. A card asks the kernel for its
// video only when it scrolls into view (IntersectionObserver), plays it muted while visible, and
// can be picked for a side-by-side comparison with one play, pause and seek for all.
const MAX_COMPARE = 4;

function timeText(seconds) {
  const s = Math.max(0, seconds || 0);
  return `${s.toFixed(1)} s`;
}

function render({ model, el }) {
  const root = h("div", "kling-root kling-gallery");
  const head = h("div", "kling-head");
  const heading = h("span", "kling-summary");
  const compareBtn = button("Compare", "Compare the selected results side by side", () => openCompare());
  compareBtn.disabled = true;
  head.append(h("span", "kling-brand", "Kling gallery"), heading, compareBtn);
  const hint = h("div", "kling-hint", `Select 2 to ${MAX_COMPARE} results to compare them side by side.`);
  const compareBox = h("div", "kling-compare");
  compareBox.hidden = true;
  const grid = h("div", "kling-gallery-grid");
  root.append(head, hint, compareBox, grid);
  el.append(root);

  const cards = new Map(); // key -> {card, video, url, want: [callbacks]}
  const selected = [];
  const pending = new Map(); // request id -> key
  let stopCompare = null;

  function load(key, then) {
    const c = cards.get(key);
    if (c.url) return then && then(c.url);
    if (then) c.want.push(then);
    if (c.requested) return;
    c.requested = true;
    const id = `${key}-${Math.random().toString(36).slice(2)}`;
    pending.set(id, key);
    model.send({ kind: "video", key, id });
  }
  function onMessage(msg, buffers) {
    if (!msg || msg.kind !== "video-response" || !pending.has(msg.id)) return;
    const c = cards.get(pending.get(msg.id));
    pending.delete(msg.id);
    if (msg.error) {
      c.error.textContent = msg.error;
      return;
    }
    c.url = URL.createObjectURL(new Blob(buffers || [], { type: msg.mime || "video/mp4" }));
    c.video.src = c.url;
    c.root.dataset.loaded = "true";
    for (const f of c.want.splice(0)) f(c.url);
  }

  const seen = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const c = cards.get(entry.target.dataset.key);
      if (!c) continue;
      if (entry.isIntersecting) {
        load(c.key);
        c.video.play().catch(() => {}); // muted: allowed without a click
      } else c.video.pause();
    }
  }, { root: grid, rootMargin: "200px 0px" });

  function refreshSelection() {
    for (const c of cards.values()) {
      const on = selected.includes(c.key);
      c.root.classList.toggle("selected", on);
      c.pick.checked = on;
      c.pick.disabled = !on && selected.length >= MAX_COMPARE;
    }
    compareBtn.disabled = selected.length < 2;
    compareBtn.textContent = selected.length ? `Compare (${selected.length})` : "Compare";
  }

  function cardFor(g) {
    const root = h("div", "kling-card");
    root.dataset.key = g.key;
    const video = h("video", "kling-video");
    video.preload = "none";
    video.muted = true;
    video.loop = true;
    video.playsInline = true;
    video.controls = true;
    video.setAttribute("aria-label", `Take ${g.take} of job ${g.job_id}`);
    const prompt = h("div", "kling-card-prompt", g.prompt);
    prompt.title = g.prompt;
    const sim = g.simulated ? " · simulated" : "";
    const facts = h("div", "kling-card-facts",
      `${g.model} · take ${g.take} of ${g.takes} · ${g.seconds} s · ${g.cost} · ${g.created}${sim}`);
    const path = h("div", "kling-card-path", g.path);
    path.title = g.path;
    const error = h("div", "kling-error");
    const pick = h("input");
    pick.type = "checkbox";
    pick.id = `kling-pick-${g.key}`;
    const label = h("label", "", "Compare");
    label.htmlFor = pick.id;
    pick.setAttribute("aria-label", `Compare take ${g.take} of job ${g.job_id}`);
    pick.addEventListener("change", () => {
      const at = selected.indexOf(g.key);
      if (pick.checked && at < 0 && selected.length < MAX_COMPARE) selected.push(g.key);
      if (!pick.checked && at >= 0) selected.splice(at, 1);
      refreshSelection();
    });
    const copy = button("Copy %%kling", `Copy take ${g.take} of job ${g.job_id} as a %%kling cell`,
      (ev) => copyText(g.magic, ev.currentTarget));
    const actions = h("div", "kling-card-actions");
    actions.append(pick, label, copy);
    root.append(video, prompt, facts, path, error, actions);
    return { key: g.key, g, root, video, pick, error, url: null, requested: false, want: [] };
  }

  function openCompare() {
    if (stopCompare) stopCompare();
    const chosen = selected.map((k) => cards.get(k));
    const box = h("div", "kling-compare-grid");
    box.style.gridTemplateColumns = `repeat(${chosen.length}, minmax(0, 1fr))`;
    const videos = chosen.map((c) => {
      const cell = h("div");
      const v = h("video", "kling-video");
      v.muted = true;
      v.playsInline = true;
      v.preload = "auto";
      v.setAttribute("aria-label", `Compared: take ${c.g.take} of job ${c.g.job_id}`);
      load(c.key, (url) => (v.src = url));
      cell.append(v, h("div", "kling-card-prompt", c.g.prompt),
        h("div", "kling-card-facts", `${c.g.model} · take ${c.g.take} · ${c.g.cost}`));
      box.append(cell);
      return v;
    });
    const play = button("Play", "Play or pause every compared video", () => {
      if (videos[0].paused) for (const v of videos) v.play().catch(() => {});
      else for (const v of videos) v.pause();
    });
    const seek = h("input");
    seek.type = "range";
    seek.min = "0";
    seek.step = "0.05";
    seek.value = "0";
    seek.setAttribute("aria-label", "Position of every compared video");
    const clock = h("span", "kling-elapsed", timeText(0));
    const close = button("Close", "Close the comparison", () => stopCompare());
    seek.addEventListener("input", () => {
      for (const v of videos) v.currentTime = Math.min(Number(seek.value), v.duration || 0);
      clock.textContent = timeText(Number(seek.value));
    });
    const lead = videos[0];
    const follow = () => {
      seek.max = String(Math.max(...videos.map((v) => v.duration || 0)));
      seek.value = String(lead.currentTime);
      clock.textContent = timeText(lead.currentTime);
      play.textContent = lead.paused ? "Play" : "Pause";
      // Keep the others within a frame or two of the first.
      for (const v of videos.slice(1)) {
        if (Math.abs(v.currentTime - lead.currentTime) > 0.15 && lead.currentTime <= (v.duration || 0)) {
          v.currentTime = lead.currentTime;
        }
      }
    };
    const events = ["timeupdate", "play", "pause", "loadedmetadata", "seeked"];
    for (const e of events) lead.addEventListener(e, follow);
    lead.addEventListener("ended", () => { for (const v of videos) v.pause(); });
    const controls = h("div", "kling-compare-controls");
    controls.append(play, seek, clock, close);
    compareBox.replaceChildren(h("div", "kling-brand", `Comparing ${chosen.length} results`), box, controls);
    compareBox.hidden = false;
    stopCompare = () => {
      for (const v of videos) v.pause();
      compareBox.replaceChildren();
      compareBox.hidden = true;
      stopCompare = null;
    };
  }

  function update() {
    heading.textContent = model.get("heading");
    const list = model.get("cards") || [];
    if (!list.length) grid.replaceChildren(h("div", "kling-hint", "No saved results match."));
    for (const g of list) {
      if (cards.has(g.key)) continue;
      const c = cardFor(g);
      cards.set(g.key, c);
      grid.append(c.root);
      seen.observe(c.root);
    }
    refreshSelection();
  }
  model.on("change:cards", update);
  model.on("msg:custom", onMessage);
  update();
  return () => {
    seen.disconnect();
    if (stopCompare) stopCompare();
    model.off("change:cards", update);
    model.off("msg:custom", onMessage);
    for (const c of cards.values()) if (c.url) URL.revokeObjectURL(c.url);
  };
}

export default { render };
