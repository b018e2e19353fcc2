// JobView front end (after common.js): renders the job's traits, ticks elapsed time locally,
// sends intents (cancel, fetch video) as custom messages. Text goes in via textContent only.
const DONE = ["succeeded", "partial", "failed", "cancelled", "timed_out", "error"];
const LABEL = { timed_out: "timed out", partial: "partly succeeded" };
// Final for the client, but a timed-out take may still run on the server: it can be cancelled.
const SETTLED = ["succeeded", "failed", "cancelled", "downloading"];

function clockText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  return m ? `${m}m ${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

// Beside a running take's elapsed time: the time left by the ledger's typical duration for this
// model and length (`typical_seconds`), ticking in the browser; as kling_nb.takes.eta_text.
function etaText(typical, elapsed) {
  if (typeof typical !== "number") return "no estimate yet";
  const left = Math.round(typical - elapsed);
  if (left < 1) return "any moment now";
  const m = Math.floor(left / 60);
  return m ? `about ${m}m ${String(left % 60).padStart(2, "0")}s left` : `about ${left}s left`;
}

function sizeText(n) {
  if (typeof n !== "number") return "";
  return n >= 100000 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1000)} KB`;
}

function card(model, index, offset) {
  const root = h("div", "kling-gen");
  root.dataset.index = String(index);
  const head = h("div", "kling-gen-head");
  const title = h("span", "kling-gen-title", `Take ${index + 1}`);
  const status = h("span", "kling-status");
  const elapsed = h("span", "kling-elapsed");
  const cancel = button("Cancel", `Cancel take ${index + 1}`, () =>
    model.send({ kind: "cancel", index }));
  head.append(title, status, elapsed, cancel);
  const error = h("div", "kling-error");
  error.setAttribute("role", "alert");
  const video = h("video", "kling-video");
  video.controls = true;
  video.playsInline = true;
  video.hidden = true;
  video.setAttribute("aria-label", `Take ${index + 1} video`);
  const facts = h("div", "kling-facts");
  const loading = h("div", "kling-hint", "Loading the video from the kernel…");
  loading.hidden = true;
  root.append(head, error, video, loading, facts);
  let requested = false;
  let url = null;
  let g = {};
  return {
    root,
    update(next) {
      g = next;
      root.dataset.status = g.status;
      status.textContent = LABEL[g.status] || g.status;
      status.dataset.status = g.status;
      error.textContent = g.error || "";
      error.hidden = !g.error;
      cancel.hidden = SETTLED.includes(g.status) || !model.get("can_cancel_one") || !g.id;
      if (g.path) {
        video.hidden = false;
        const bits = [g.duration ? `${g.duration.toFixed(1)} s` : "", sizeText(g.size)];
        const path = h("span", "kling-path", g.path); // one line: an id never breaks mid-way
        path.title = g.path;
        facts.replaceChildren(bits.filter(Boolean).join(" · ") + " · ", path);
        facts.title = `sha256 ${g.sha256}`;
        if (!requested) {
          requested = `${index}-${Math.random().toString(36).slice(2)}`;
          model.send({ kind: "video", index, id: requested });
          loading.hidden = false;
        }
      } else facts.textContent = g.id ? `generation ${g.id}` : "";
      this.tick();
    },
    tick() {
      const start = g.started_at || g.enqueued_at || model.get("created_at");
      if (!start) return (elapsed.textContent = "");
      const end = g.completed_at || (DONE.includes(g.status) ? start : Date.now() / 1000 - offset());
      const running = !g.completed_at && !DONE.includes(g.status);
      const eta = running ? ` · ${etaText(model.get("typical_seconds"), end - start)}` : "";
      elapsed.textContent = clockText(end - start) + eta;
    },
    video(msg, buffers) {
      if (msg.id !== requested) return; // another view's reply
      loading.hidden = true;
      if (msg.error) {
        error.textContent = msg.error;
        error.hidden = false;
        return;
      }
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(new Blob(buffers, { type: msg.mime || "video/mp4" }));
      video.src = url;
    },
    dispose() {
      if (url) URL.revokeObjectURL(url);
    },
  };
}

function render({ model, el }) {
  let offset = 0; // browser clock minus kernel clock, so elapsed time survives clock skew
  const root = h("div", "kling-root kling-job");
  const head = h("div", "kling-head");
  const modelName = h("span", "kling-model");
  const cost = h("span", "kling-cost");
  const badges = h("span", "kling-badges");
  head.append(h("span", "kling-brand", "Kling"), modelName, cost, badges);
  const summary = h("div", "kling-summary");
  const line = h("div", "kling-line");
  const status = h("span", "kling-status kling-job-status");
  status.setAttribute("aria-live", "polite");
  const elapsed = h("span", "kling-elapsed");
  const cancelAll = button("Cancel all", "Cancel all takes of this job", () =>
    model.send({ kind: "cancel" }));
  line.append(status, elapsed, cancelAll);
  const error = h("div", "kling-error");
  error.setAttribute("role", "alert");
  const notice = h("div", "kling-notice");
  const grid = h("div", "kling-grid");
  const exportsBox = exportsPanel("Copy request");
  exportsBox.update(model.get("exports"));
  root.append(head, summary, line, error, notice, grid, exportsBox.box);
  el.append(root);
  const cards = new Map();

  function tick() {
    const start = model.get("created_at");
    const end = model.get("finished_at") || Date.now() / 1000 - offset;
    elapsed.textContent = start ? clockText(end - start) : "";
    for (const c of cards.values()) c.tick();
  }
  function update() {
    offset = Date.now() / 1000 - (model.get("clock") || Date.now() / 1000);
    const s = model.get("status");
    root.dataset.status = s;
    status.textContent = LABEL[s] || s;
    status.dataset.status = s;
    modelName.textContent = model.get("model");
    cost.textContent = model.get("cost");
    summary.textContent = model.get("summary");
    badges.replaceChildren();
    for (const b of ["replayed", "simulated"]) {
      if (model.get(b)) badges.append(h("span", `kling-badge kling-badge-${b}`, b));
    }
    error.textContent = model.get("error");
    error.hidden = !model.get("error");
    notice.textContent = model.get("notice");
    const gens = model.get("generations") || [];
    const timedOut = s !== "error" && gens.some((g) => g.status === "timed_out");
    cancelAll.hidden = DONE.includes(s) && !timedOut;
    for (const g of gens) {
      let c = cards.get(g.index);
      if (!c) {
        c = card(model, g.index, () => offset);
        cards.set(g.index, c);
        grid.append(c.root);
      }
      c.update(g);
    }
    tick();
  }
  function onMessage(msg, buffers) {
    if (msg && msg.kind === "video-response" && cards.has(msg.index)) {
      cards.get(msg.index).video(msg, buffers || []);
    }
  }
  const names = ["status", "generations", "error", "notice", "finished_at", "replayed",
    "simulated", "cost", "clock"];
  for (const n of names) model.on(`change:${n}`, update);
  model.on("msg:custom", onMessage);
  update();
  const timer = setInterval(tick, 1000);
  return () => {
    clearInterval(timer);
    for (const n of names) model.off(`change:${n}`, update);
    model.off("msg:custom", onMessage);
    for (const c of cards.values()) c.dispose();
  };
}

export default { render };
